"""The smallest Redis ACL rule a deployment needs: its prefix's keys and channels, and the commands it sends.

Give each deployment its own user and prefix: Redis then refuses it every key and channel of
another prefix (the README's "Security" section). The commands are every one the layer sends,
including those redis-py sends on connecting (AUTH needs no permission; SELECT only for a
database other than 0, so add ``+select`` then; CLIENT SETINFO is optional, see ``OPTIONAL``).
The tests run the whole layer under exactly this rule and check that removing any one of its parts
fails the call that needs it.
"""

from __future__ import annotations

import re

__all__ = ["CLUSTER", "DEFAULT_FEATURES", "FEATURES", "OPTIONAL", "PUBSUB", "SENTINEL", "acl_rule"]

#: Always: sending (PUBLISH), receiving (SUBSCRIBE, UNSUBSCRIBE) and the subscriber's heartbeat (PING).
PUBSUB = ("+publish", "+subscribe", "+unsubscribe", "+ping")
#: On a Redis Cluster, sharded pub/sub instead, and what the cluster client reads on connecting.
CLUSTER = ("+spublish", "+ssubscribe", "+sunsubscribe", "+ping", "+cluster|slots", "+command")
#: On the sentinels of a Sentinel-managed master (a user there, given in ``sentinel_kwargs``): the layer
#: only asks them where the master is. The master itself needs the rule of ``acl_rule``.
SENTINEL = "-@all +sentinel|masters"
#: What each feature adds. Scripts run by EVALSHA, with EVAL when the server does not have them yet,
#: and Redis checks the commands inside them too: worker channels' push (LLEN, RPUSH, PEXPIRE),
#: history's append (GET, XRANGE, DEL, XADD, SET, PEXPIRE, and the publish) and read (GET,
#: XREVRANGE, XRANGE). Flush also publishes on the control topic. Presence: its scripts (TIME and the
#: hash, set and sorted-set commands of its entries, deadlines and processes, and the publish of its
#: events), and HVALS beside the script of a list.
FEATURES = {
    "worker_channels": ("+evalsha", "+eval", "+llen", "+rpush", "+pexpire", "+blpop"),
    "flush": ("+scan", "+unlink"),
    "stats": ("+set", "+scan", "+get", "+pttl"),
    "history": ("+evalsha", "+eval", "+get", "+xrange", "+del", "+xadd", "+set", "+pexpire", "+xrevrange"),
    "presence": (
        "+evalsha", "+eval", "+time", "+hget", "+hset", "+hdel", "+hexists", "+hincrby", "+hvals", "+sadd", "+srem",
        "+smembers", "+scard", "+del", "+zadd", "+zrem", "+zscore", "+zrangebyscore", "+zremrangebyscore", "+pexpire",
    ),
}
#: The features a layer uses with its default CONFIG; history is opt-in (CONFIG ``history``), and so is
#: presence (the application calls ``presence_track``).
DEFAULT_FEATURES = ("worker_channels", "flush", "stats")
#: redis-py sends CLIENT SETINFO on every new connection and ignores a refusal, which Redis 7.2+
#: records in ACL LOG; grant it to keep that log clean (Redis before 7.2 rejects the rule with it).
OPTIONAL = ("+client|setinfo",)

_PREFIX = re.compile(r"[A-Za-z0-9_.\-]+")


def acl_rule(prefix: str = "asgi", *, cluster: bool = False, features: tuple[str, ...] = DEFAULT_FEATURES) -> str:
    """The ``ACL SETUSER <user> on >password`` rule for a layer with ``prefix`` using ``features``.

    ``features`` are keys of ``FEATURES`` (``DEFAULT_FEATURES`` unless given; add "history" for groups
    with history). Without any, the user needs no key.
    """
    if not isinstance(prefix, str) or not _PREFIX.fullmatch(prefix):
        raise ValueError(f"prefix must be a layer prefix (letters, digits, '_', '.', '-'), not {prefix!r}")
    unknown = sorted(set(features) - set(FEATURES))
    if unknown:
        raise ValueError(f"unknown features {unknown}; known ones: {sorted(FEATURES)}")
    commands = list(CLUSTER if cluster else PUBSUB)
    for feature in features:
        commands.extend(command for command in FEATURES[feature] if command not in commands)
    keys = f"~{prefix}:*" if features else ""
    return " ".join(part for part in ("resetchannels", f"&{prefix}:*", "resetkeys", keys, "-@all", *commands) if part)
