"""The ``CHANNEL_LAYERS`` aliases that use this backend, for the system checks and the management commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

from ..layer import FanoutChannelLayer

__all__ = ["fanout_aliases", "fanout_entry", "private_layer"]


def fanout_aliases() -> dict[str, Mapping[str, Any]]:
    """Alias -> settings entry, for every entry whose BACKEND is ``FanoutChannelLayer`` or a subclass."""
    found = {}
    for alias, entry in getattr(settings, "CHANNEL_LAYERS", {}).items():
        try:
            backend = import_string(entry["BACKEND"])
        except (ImportError, KeyError, TypeError):
            continue  # not ours to judge: Channels reports a BACKEND it cannot load
        if isinstance(backend, type) and issubclass(backend, FanoutChannelLayer):
            found[alias] = entry
    return found


def fanout_entry(alias: str) -> tuple[type[FanoutChannelLayer], dict[str, Any]]:
    """The BACKEND class and CONFIG of ``alias``; LookupError naming the usable aliases if it is not ours."""
    entries = fanout_aliases()
    if alias not in entries:
        configured = sorted(getattr(settings, "CHANNEL_LAYERS", {}))
        raise LookupError(
            f"CHANNEL_LAYERS has no alias {alias!r} using channels_fanout (aliases using it: {sorted(entries)}, "
            f"all aliases: {configured}); pass --layer with one of the first"
        )
    return import_string(entries[alias]["BACKEND"]), dict(entries[alias].get("CONFIG", {}))


def private_layer(alias: str) -> FanoutChannelLayer:
    """A new layer from the alias's CONFIG with its stats reports off; the caller closes it.

    Commands use a layer of their own, not the process's shared one, and never report, so that
    ``fanout_status`` lists the deployment and never the command itself.
    """
    backend, config = fanout_entry(alias)
    return backend(**{**config, "stats_interval": 0})
