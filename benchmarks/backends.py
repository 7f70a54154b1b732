"""The layers under test, by short name or dotted path, built the way a settings file would build them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

__all__ = ["ALIASES", "REFERENCES", "Backend", "build_layer", "close_layer", "parse_backend", "supports"]

ALIASES = {
    "fanout": "channels_fanout.FanoutChannelLayer",
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "inmemory": "channels.layers.InMemoryChannelLayer",
}
REFERENCES = ("core", "pubsub")  # ratios are taken against these
IN_MEMORY = ALIASES["inmemory"]


@dataclass(frozen=True)
class Backend:
    name: str
    path: str

    @property
    def in_memory(self) -> bool:
        """An in-memory layer only connects consumers of one process: multi-process scenarios skip it."""
        return self.path == IN_MEMORY


def parse_backend(text: str) -> Backend:
    """``fanout`` or a dotted path such as ``myproject.layers.MyLayer``."""
    if text in ALIASES:
        return Backend(text, ALIASES[text])
    if "." not in text:
        raise ValueError(f"Unknown backend {text!r}: use one of {', '.join(ALIASES)} or a dotted class path")
    for name, path in ALIASES.items():
        if path == text:
            return Backend(name, path)
    return Backend(text.rsplit(".", 1)[1], text)


def build_layer(path: str, redis_url: str, options: dict[str, Any] | None = None) -> Any:
    """The layer on the run's Redis (as ``CONFIG = {"hosts": [url]}``), with a scenario's own ``options`` if any."""
    layer_class = _layer_class(path)
    if path == IN_MEMORY:
        return layer_class()
    return layer_class(hosts=[redis_url], **(options or {}))


def supports(backend: Backend, extension: str | None) -> bool:
    """Whether the backend's layer class lists ``extension`` (Channels' ``extensions``); None: any layer."""
    if extension is None:
        return True
    try:
        return extension in getattr(_layer_class(backend.path), "extensions", ())
    except ImportError:  # not installed: the scenarios it can run say so in their own results
        return False


def _layer_class(path: str) -> Any:
    module_name, class_name = path.rsplit(".", 1)
    return getattr(importlib.import_module(module_name), class_name)


async def close_layer(layer: Any) -> None:
    """Release connections; the layers spell this differently."""
    if hasattr(type(layer), "close_pools"):  # channels_redis core (its close() does not exist)
        await layer.close_pools()
    elif type(layer).__name__ == "RedisPubSubChannelLayer":  # flush() is its only way to disconnect
        await layer.flush()
    elif hasattr(layer, "close"):
        await layer.close()
