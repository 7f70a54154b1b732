"""A group's history in Redis: a stream of its last messages and the stream's epoch, both under the group's hash tag.

Keys (``Names.group_key``): ``prefix:history:{group}``, a stream whose entries hold the HISTORY
frame head under field ``f``; ``prefix:history-epoch:{group}``, ``"<epoch>|<id of its first
entry>|<id of its newest>|<entries added in the epoch>"``. Both expire ``ttl`` seconds after the
last message. The epoch is named when the stream is created, so a stream lost and created again (a
restart without persistence, flush, eviction, expiry) is a new epoch; if only the epoch key is gone,
the stream is dropped with it.

Both scripts run on the shard's auto-pipelining publisher, so concurrent calls share round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..transport.scripts import Script
from ..transport.shard import Shard
from .positions import Position, next_id

__all__ = ["Limits", "StreamRead", "append", "limits", "read"]

# Add messages to the stream, trim it, refresh both TTLs and publish each frame with its position: one
# atomic step, so every subscriber sees a message only once it is in the history, with the position it has
# there. ARGV: the topic, the sender's token, size, ttl in ms, then the frame heads, in order (one process's
# concurrent sends to the group share one call).
# The epoch key holds "<epoch>|<first id>|<newest id>|<messages added in the epoch>", and the script returns
# it as the sender's token for its next append to the group (ARGV[2]). Unless the token is still the key
# (nothing added since: the common case, checked without a lookup) or enough messages were added since for
# trimming to have taken it, the sender's last message must still be in the stream; if it is gone, Redis
# lost acknowledged messages (a failover to a replica without the tail, an AOF that lost its last second),
# and the history starts a new epoch rather than hide the hole. (A hole behind the trimmed front is no
# longer in any read.) A new epoch is named after the key and its first entry's id, so a stream created
# again never gets an old name. Redis 5 and 6 need effects replication for writes after XADD's generated
# id; on 7 it is the only mode.
_APPEND = """
redis.replicate_commands()
local meta = redis.call('GET', KEYS[2])
local epoch, first, added
if meta then
  epoch, first, added = string.match(meta, '^([^|]*)|([^|]*)|[^|]*|(%d+)$')
  if not epoch then
    meta = false
  elseif ARGV[2] ~= '' and ARGV[2] ~= meta then
    local last_epoch, last, last_added = string.match(ARGV[2], '^([^|]*)|[^|]*|([^|]*)|(%d+)$')
    if last_epoch == epoch and tonumber(added) - tonumber(last_added) < tonumber(ARGV[3])
        and #redis.call('XRANGE', KEYS[1], last, last) == 0 then
      meta = false
    end
  end
end
if meta then
  added = tonumber(added)
else
  redis.call('DEL', KEYS[1])
  added = 0
end
local id
for i = 5, #ARGV do
  id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[3], '*', 'f', ARGV[i])
  if i == 5 and not meta then epoch, first = string.sub(redis.sha1hex(KEYS[1] .. id), 1, 12), id end
  added = added + 1
  redis.call('PUBLISH_COMMAND', ARGV[1], ARGV[i] .. cmsgpack.pack(epoch, id))
end
meta = epoch .. '|' .. first .. '|' .. id .. '|' .. added
redis.call('SET', KEYS[2], meta, 'PX', ARGV[4])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return meta
"""
#: The append script per publish command: PUBLISH, or SPUBLISH on a cluster.
_APPENDS = {command: Script(_APPEND.replace("PUBLISH_COMMAND", command)) for command in ("PUBLISH", "SPUBLISH")}

# The newest position, and the entries after an anchor (or the newest ones): covered (1) only when the
# anchor is of this epoch and still in the stream, so nothing after it can be missing (or, without an
# anchor, when the entries reach back to the epoch's first).
_READ = Script("""
local meta = redis.call('GET', KEYS[2])
if not meta then return {false, false, 0, {}} end
local epoch, first = string.match(meta, '^([^|]*)|([^|]*)')
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local last = top and top[1] or false
local count = tonumber(ARGV[4])
if ARGV[1] == '' then
  if count == 0 then return {epoch, last, 0, {}} end
  local entries = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', count)
  local oldest = entries[#entries]
  return {epoch, last, (oldest and oldest[1] == first) and 1 or 0, entries}
end
if ARGV[1] ~= epoch or #redis.call('XRANGE', KEYS[1], ARGV[2], ARGV[2]) == 0 then
  return {epoch, last, 0, {}}
end
return {epoch, last, 1, redis.call('XRANGE', KEYS[1], ARGV[3], '+', 'COUNT', count)}
""")


#: A history policy as the append script takes it: (size, ttl in milliseconds), encoded.
Limits = tuple[bytes, bytes]


def limits(size: int, ttl: float) -> Limits:
    return str(size).encode(), str(max(1, round(ttl * 1000))).encode()


@dataclass(frozen=True)
class StreamRead:
    """What one read of a group's history found."""

    #: The newest message's position; None when the group has no history now.
    position: Position | None
    #: Whether ``entries`` are every message after the anchor (without one: since the epoch began).
    covered: bool
    #: (position, HISTORY frame head) in stream order.
    entries: list[tuple[Position, bytes]]


async def append(
    shard: Shard, keys: tuple[bytes, bytes], topic: bytes, heads: list[bytes], last: bytes, limits: Limits
) -> bytes:
    """Add HISTORY frame heads to the stream, in order, and publish each whole frame on ``topic``; returns a token.

    ``last`` is the token returned for the last messages this process added to the group, or ``b""``: the
    script checks that Redis still has them. Arguments go as bytes: this runs for every ``group_send``.
    """
    script = _APPENDS[shard.publish_command]
    return bytes(await script.run(shard.publisher, keys, (topic, last, *limits, *heads)))


async def read(shard: Shard, keys: tuple[str, str], since: Position | None, count: int) -> StreamRead:
    """Up to ``count`` entries after ``since`` (or the newest ``count``, oldest first, without it)."""
    anchor = ("", "", "") if since is None else (since.epoch, since.id, next_id(since.id))
    epoch, last, covered, raw = await _READ.run(shard.publisher, keys, (*anchor, count))
    if epoch is None:
        return StreamRead(None, False, [])
    epoch = _text(epoch)
    entries = [(Position(epoch, _text(entry_id)), _head(fields)) for entry_id, fields in raw]
    if since is None:
        entries.reverse()  # read newest first
    position = None if last is None else Position(epoch, _text(last))
    return StreamRead(position, bool(covered), entries)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _head(fields: list[Any]) -> bytes:
    """The frame head out of an entry's flat [field, value] list."""
    return bytes(fields[fields.index(b"f") + 1])
