"""Django signals sent by the layer."""

from django.dispatch import Signal

__all__ = ["gap"]

#: Sent after a Redis pub/sub subscription came back from an outage; messages published during it
#: were lost. Arguments: ``sender`` (the layer), ``channels`` (the local channels affected, a set),
#: ``outage`` (seconds without the subscription).
gap = Signal()
