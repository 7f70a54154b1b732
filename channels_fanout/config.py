"""The layer's settings, validated once at construction into one immutable object."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

__all__ = ["HistoryPolicy", "LayerConfig", "describe_host", "redact"]

Capacities = tuple[tuple["re.Pattern[str]", int], ...]


@dataclass(frozen=True)
class HistoryPolicy:
    """How much of a group's history Redis keeps: its last ``size`` messages, for ``ttl`` seconds after the last."""

    size: int
    ttl: float


Histories = tuple[tuple["re.Pattern[str]", HistoryPolicy], ...]

# channels_redis keys whose meaning has no counterpart here: rejected with the reason, so a
# migration never silently keeps an option that does nothing.
_REJECTED = {
    "random_prefix_length": (
        "it only made entries unique in channels_redis' sorted sets, which this layer does not use; remove it"
    ),
    "on_disconnect": "use the gap signal (gap_message_type, channels_fanout.signals.gap) instead",
    "on_reconnect": "use the gap signal (gap_message_type, channels_fanout.signals.gap) instead",
}


#: redis-py arguments that load a TLS client certificate; with no ``ssl_password``, OpenSSL would ask
#: for an encrypted key's passphrase on the terminal, blocking the process (see ``_without_prompt``).
_CLIENT_CERTIFICATE = ("ssl_certfile", "ssl_keyfile")


@dataclass(frozen=True)
class LayerConfig:
    """Every option of ``FanoutChannelLayer`` with its default; see the README for each."""

    hosts: tuple[Mapping[str, Any], ...] = ({"address": "redis://localhost:6379"},)
    prefix: str = "asgi"
    expiry: float = 60
    group_expiry: float = 86400
    capacity: int = 100
    channel_capacity: Capacities = ()
    symmetric_encryption_keys: tuple[str | bytes, ...] = ()
    serializer_format: str = "msgpack"
    max_message_size: int = 1024 * 1024
    receive_grace: float = 30
    heartbeat_interval: float = 5
    command_timeout: float = 5
    reconnect_max_delay: float = 1
    gap_message_type: str | None = None
    stats_interval: float = 10
    history: Histories = ()
    presence_timeout: float = 10
    presence_message_type: str | None = None

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> LayerConfig:
        """Build the config from the CONFIG dict; a bad option raises naming the option and the fix."""
        known = set(cls.__dataclass_fields__)
        values: dict[str, Any] = {}
        for key, value in options.items():
            if key in _REJECTED:
                raise TypeError(f"CONFIG option {key!r} is not supported by channels_fanout: {_REJECTED[key]}")
            if key not in known:
                raise TypeError(f"Unknown CONFIG option {key!r} for channels_fanout; known options: {sorted(known)}")
            values[key] = value
        return cls(**_normalise(values))

    def __repr__(self) -> str:
        # Reprs end up in logs and error pages: hosts carry passwords, and the encryption keys are secrets.
        hosts = [describe_host(host) for host in self.hosts]
        keys = f"<{len(self.symmetric_encryption_keys)} keys>"
        return f"LayerConfig(hosts={hosts!r}, prefix={self.prefix!r}, symmetric_encryption_keys={keys}, ...)"

    def history_for(self, group: str) -> HistoryPolicy | None:
        """The history policy of the first pattern ``group`` matches, or None: the group keeps no history."""
        for pattern, policy in self.history:
            if pattern.match(group):
                return policy
        return None


def _normalise(values: dict[str, Any]) -> dict[str, Any]:
    if "hosts" in values:
        values["hosts"] = _hosts(values["hosts"])
    if "prefix" in values:
        prefix = values["prefix"]
        if not isinstance(prefix, str) or not re.fullmatch(r"[A-Za-z0-9_.\-]+", prefix):
            raise ValueError(
                f"CONFIG option 'prefix' must be a non-empty string of letters, digits, '_', '.', '-', not {prefix!r}"
            )
    for key in ("expiry", "group_expiry", "receive_grace", "command_timeout", "reconnect_max_delay"):
        if key in values:
            values[key] = _number(key, values[key], allow_zero=False)
    for key in ("heartbeat_interval", "stats_interval"):
        if key in values:
            values[key] = _number(key, values[key], allow_zero=True)
    for key in ("capacity", "max_message_size"):
        if key in values:
            values[key] = _positive_int(key, values[key])
    if "channel_capacity" in values:
        values["channel_capacity"] = _capacities(values["channel_capacity"])
    if "history" in values:
        values["history"] = _histories(values["history"])
    if "symmetric_encryption_keys" in values:
        values["symmetric_encryption_keys"] = _keys(values["symmetric_encryption_keys"])
    if values.get("serializer_format", "msgpack") not in ("msgpack", "json"):
        raise ValueError(
            f"CONFIG option 'serializer_format' must be 'msgpack' or 'json', not {values['serializer_format']!r}"
        )
    gap = values.get("gap_message_type")
    if gap is not None and (not isinstance(gap, str) or not gap):
        raise TypeError(f"CONFIG option 'gap_message_type' must be a message type string or None, not {gap!r}")
    _presence(values)
    return values


def _presence(values: dict[str, Any]) -> None:
    """``presence_timeout`` and ``presence_message_type``, checked in place."""
    if "presence_timeout" in values:
        values["presence_timeout"] = _number("presence_timeout", values["presence_timeout"], allow_zero=False)
    presence_type = values.get("presence_message_type")
    if presence_type is not None and (not isinstance(presence_type, str) or not presence_type):
        raise TypeError(
            f"CONFIG option 'presence_message_type' must be a message type string or None, not {presence_type!r}"
        )


def _hosts(hosts: Any) -> tuple[Mapping[str, Any], ...]:
    if not hosts:
        return LayerConfig.hosts
    if isinstance(hosts, (str, bytes)):
        raise TypeError("CONFIG option 'hosts' must be a list of hosts, even for one host: hosts=[url]")
    result: list[dict[str, Any]] = []
    for entry in hosts:
        if isinstance(entry, str):
            if urlsplit(entry).scheme not in ("redis", "rediss", "unix"):
                raise ValueError(
                    f"CONFIG option 'hosts' has {redact(entry)!r}: a URL must start with redis://, rediss:// or unix://"
                )
            result.append(_without_prompt({"address": entry}))
        elif isinstance(entry, (tuple, list)) and len(entry) == 2:
            result.append({"host": entry[0], "port": int(entry[1])})
        elif isinstance(entry, Mapping):
            if "cluster" in entry:
                result.append(_without_prompt(_cluster_host(entry)))
            elif "sentinels" in entry or "master_name" in entry:
                result.append(_without_prompt(_sentinel_host(entry)))
            else:
                result.append(_without_prompt(dict(entry)))
        else:
            raise TypeError(
                f"CONFIG option 'hosts' has an entry of type {type(entry).__name__}: each host is a URL string, "
                "a (host, port) pair or a dict of redis-py connection arguments"
            )
    if len(result) > 1 and any("cluster" in host for host in result):
        raise ValueError(
            "CONFIG option 'hosts': a cluster entry must be the only host, since the cluster shards topics by "
            "itself; list its nodes inside it: hosts=[{'cluster': [url, url, ...]}]"
        )
    return tuple(result)


def _sentinel_host(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"sentinels": [(host, port), ...], "master_name": name, "sentinel_kwargs": {...}, **redis-py kwargs}``."""
    host = dict(entry)
    sentinels, name = host.get("sentinels"), host.get("master_name")
    if not isinstance(name, str) or not name:
        raise ValueError(
            f"CONFIG option 'hosts': a Sentinel host needs 'master_name', the monitored name, not {name!r}"
        )
    if isinstance(sentinels, (str, bytes)) or not sentinels or not all(_is_pair(pair) for pair in sentinels):
        raise ValueError(
            f"CONFIG option 'hosts': 'sentinels' of master {name!r} must be a list of (host, port) pairs, "
            f"not {sentinels!r}"
        )
    for key in ("address", "host", "port"):
        if key in host:
            raise ValueError(
                f"CONFIG option 'hosts': remove {key!r} from Sentinel master {name!r}; the sentinels name it"
            )
    sentinel_kwargs = host.get("sentinel_kwargs") or {}
    if not isinstance(sentinel_kwargs, Mapping):
        raise TypeError(
            f"CONFIG option 'hosts': 'sentinel_kwargs' must be a dict of redis-py arguments, not {sentinel_kwargs!r}"
        )
    host.update(sentinels=tuple((str(h), int(p)) for h, p in sentinels), sentinel_kwargs=dict(sentinel_kwargs))
    return host


def _cluster_host(entry: Mapping[str, Any]) -> dict[str, Any]:
    """``{"cluster": url or [url or (host, port), ...], **redis-py kwargs}``, startup nodes normalised to URLs."""
    host = dict(entry)
    nodes = host["cluster"]
    if isinstance(nodes, str):
        nodes = [nodes]
    if isinstance(nodes, bytes) or not nodes or not isinstance(nodes, (list, tuple)):
        raise ValueError(f"CONFIG option 'hosts': 'cluster' must be a URL or a list of startup nodes, not {nodes!r}")
    urls = []
    for node in nodes:
        url = f"redis://{node[0]}:{int(node[1])}" if _is_pair(node) else node
        parts = urlsplit(url) if isinstance(url, str) else None
        if parts is None or parts.scheme not in ("redis", "rediss") or parts.path.strip("/") not in ("", "0"):
            shown = redact(node) if isinstance(node, str) else node
            raise ValueError(
                f"CONFIG option 'hosts': cluster node {shown!r} must be a redis:// or rediss:// URL (database 0, "
                "the only one a cluster has) or a (host, port) pair"
            )
        urls.append(url)
    for key in ("address", "host", "port", "sentinels", "master_name"):
        if key in host:
            raise ValueError(f"CONFIG option 'hosts': remove {key!r} from the cluster entry; name nodes in 'cluster'")
    host["cluster"] = tuple(urls)
    return host


def _without_prompt(host: dict[str, Any]) -> dict[str, Any]:
    """Give ``ssl_password`` a default of "" where a client certificate is loaded without one.

    OpenSSL asks for an encrypted key's passphrase on the terminal when given none: a server
    started from a shell would block there. With "", an encrypted key fails to load with an error
    (ChannelLayerRefused says to set ``ssl_password``); an unencrypted one loads as before.
    """
    urls = [host["address"]] if isinstance(host.get("address"), str) else list(host.get("cluster", ()))
    in_urls = any(name in parse_qs(urlsplit(url).query) for url in urls for name in _CLIENT_CERTIFICATE)
    if (in_urls or any(name in host for name in _CLIENT_CERTIFICATE)) and "ssl_password" not in host:
        host["ssl_password"] = ""
    sentinel_kwargs = host.get("sentinel_kwargs")
    if sentinel_kwargs and any(name in sentinel_kwargs for name in _CLIENT_CERTIFICATE):
        host["sentinel_kwargs"] = {"ssl_password": "", **sentinel_kwargs}
    return host


def _is_pair(value: Any) -> bool:
    return isinstance(value, (tuple, list)) and len(value) == 2 and isinstance(value[0], str)


def _number(key: str, value: Any, *, allow_zero: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"CONFIG option {key!r} must be a number of seconds, not {value!r}")
    if value < 0 or (value == 0 and not allow_zero):
        raise ValueError(f"CONFIG option {key!r} must be {'zero or more' if allow_zero else 'positive'}, not {value!r}")
    return float(value)


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"CONFIG option {key!r} must be an integer, not {value!r}")
    if value < 1:
        raise ValueError(f"CONFIG option {key!r} must be at least 1, not {value!r}")
    return value


def _capacities(channel_capacity: Any) -> Capacities:
    """Compile glob or regex patterns once; the first match wins, as in Channels."""
    if not isinstance(channel_capacity, Mapping):
        raise TypeError(
            f"CONFIG option 'channel_capacity' must be a dict of pattern -> capacity, not {channel_capacity!r}"
        )
    compiled = []
    for pattern, capacity in channel_capacity.items():
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(fnmatch.translate(pattern))
        compiled.append((regex, _positive_int(f"channel_capacity[{pattern!r}]", capacity)))
    return tuple(compiled)


def _histories(history: Any) -> Histories:
    """``{pattern: {"size": n, "ttl": seconds}}``, compiled once like ``channel_capacity``; the first match wins."""
    if not isinstance(history, Mapping):
        raise TypeError(
            f"CONFIG option 'history' must be a dict of group pattern -> {{'size': n, 'ttl': seconds}}, not {history!r}"
        )
    compiled = []
    for pattern, policy in history.items():
        where = f"history[{pattern!r}]"
        if not isinstance(policy, Mapping) or set(policy) != {"size", "ttl"}:
            raise ValueError(
                f"CONFIG option {where} must be a dict with exactly 'size' (messages kept) and 'ttl' (seconds), "
                f"not {policy!r}"
            )
        regex = pattern if isinstance(pattern, re.Pattern) else re.compile(fnmatch.translate(pattern))
        size = _positive_int(f"{where}['size']", policy["size"])
        compiled.append((regex, HistoryPolicy(size, _number(f"{where}['ttl']", policy["ttl"], allow_zero=False))))
    return tuple(compiled)


def _keys(keys: Any) -> tuple[str | bytes, ...]:
    if keys is None:
        return ()
    if isinstance(keys, (str, bytes)):
        raise TypeError("CONFIG option 'symmetric_encryption_keys' must be a list of keys, even for one key")
    if not all(isinstance(key, (str, bytes)) and key for key in keys):
        raise TypeError("CONFIG option 'symmetric_encryption_keys' must hold non-empty str or bytes keys")
    return tuple(keys)


def describe_host(host: Mapping[str, Any]) -> str:
    """How logs, errors and stats name a normalised entry of ``hosts``: never with its credentials."""
    if "description" in host:
        return redact(str(host["description"]))
    if "cluster" in host:
        first = urlsplit(host["cluster"][0])
        return f"cluster at {first.hostname}:{first.port or 6379}"
    if "sentinels" in host:
        sentinels = ", ".join(f"{name}:{port}" for name, port in host["sentinels"])
        return f"master {host['master_name']!r} of sentinels {sentinels}"
    if "address" in host:
        return redact(str(host["address"]))
    return f"{host.get('host', 'localhost')}:{host.get('port', 6379)}"


def redact(description: str) -> str:
    """A Redis address without credentials or query options: logs and reports leave the process."""
    if "://" not in description:
        return description
    parts = urlsplit(description)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"
