"""The layers under test, by short name or dotted path, built the way a settings file would build them."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any

__all__ = ["ALIASES", "HISTORY", "OPTIONS", "REFERENCES", "Backend", "build_layer", "close_layer", "parse_backend"]

FANOUT = "channels_fanout.FanoutChannelLayer"
ALIASES = {
    "fanout": FANOUT,
    "fanout-history": FANOUT,
    "core": "channels_redis.core.RedisChannelLayer",
    "pubsub": "channels_redis.pubsub.RedisPubSubChannelLayer",
    "inmemory": "channels.layers.InMemoryChannelLayer",
    "floor": "benchmarks.floor.FloorLayer",  # the least a layer must do, in one process: scenario dispatch only
}
# Every benchmark group is named bench-<run>-<n>: with this, each keeps its last 100 messages (issue 13).
HISTORY = {"bench-*": {"size": 100, "ttl": 300}}
OPTIONS: dict[str, dict[str, Any]] = {"fanout-history": {"history": HISTORY}}  # beyond hosts=[url]
REFERENCES = ("core", "pubsub")  # ratios are taken against these, unless a scenario names others
IN_MEMORY = ALIASES["inmemory"]
IN_PROCESS = (IN_MEMORY, ALIASES["floor"])


@dataclass(frozen=True)
class Backend:
    name: str
    path: str
    options: dict[str, Any] = field(default_factory=dict, hash=False)  # CONFIG beyond hosts=[url]

    @property
    def in_memory(self) -> bool:
        """An in-memory layer only connects consumers of one process: multi-process scenarios skip it."""
        return self.path in IN_PROCESS

    @property
    def floor(self) -> bool:
        return self.path == ALIASES["floor"]

    @property
    def fanout(self) -> bool:
        return self.path == FANOUT

    @property
    def history(self) -> bool:
        """Groups keep a history (channels_fanout's ``history`` option): only the history scenarios take it."""
        return "history" in self.options


def parse_backend(text: str) -> Backend:
    """``fanout`` or a dotted path such as ``myproject.layers.MyLayer``."""
    if text in ALIASES:
        return Backend(text, ALIASES[text], OPTIONS.get(text, {}))
    if "." not in text:
        raise ValueError(f"Unknown backend {text!r}: use one of {', '.join(ALIASES)} or a dotted class path")
    for name, path in ALIASES.items():
        if path == text:
            return Backend(name, path)
    return Backend(text.rsplit(".", 1)[1], text)


def build_layer(path: str, redis_url: str, options: dict[str, Any] | None = None) -> Any:
    """The layer with default options but ``options``, on the run's Redis (as ``CONFIG = {"hosts": [url], ...}``)."""
    module_name, class_name = path.rsplit(".", 1)
    layer_class = getattr(importlib.import_module(module_name), class_name)
    if path in IN_PROCESS:
        return layer_class()
    return layer_class(hosts=[redis_url], **(options or {}))


async def close_layer(layer: Any) -> None:
    """Release connections; the layers spell this differently."""
    if hasattr(type(layer), "close_pools"):  # channels_redis core (its close() does not exist)
        await layer.close_pools()
    elif type(layer).__name__ == "RedisPubSubChannelLayer":  # flush() is its only way to disconnect
        await layer.flush()
    elif hasattr(layer, "close"):
        await layer.close()
