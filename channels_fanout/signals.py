"""Django signals sent by the layer."""

from django.dispatch import Signal

__all__ = ["gap"]

#: Sent after a Redis pub/sub subscription came back from an outage, for the local channels that may
#: have lost messages during it (groups with history whose history covered the outage lost nothing and
#: are not counted). Arguments: ``sender`` (the layer), ``channels`` (the local channels affected, a
#: set), ``outage`` (seconds without the subscription), ``groups`` (channel -> sorted list of its
#: groups whose messages may have been lost; empty when only direct sends may have been).
gap = Signal()
