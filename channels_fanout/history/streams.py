"""A group's history in Redis: a stream of its last messages and the stream's epoch, both under the group's hash tag.

Keys (``Names.group_key``): ``prefix:history:{group}``, a stream whose entries hold the HISTORY
frame head under field ``f``; ``prefix:history-epoch:{group}``, ``"<epoch>|<id of its first
entry>"``. Both expire ``ttl`` seconds after the last message. The epoch is named when the
stream is created, so a stream lost and created again (a restart without persistence, flush,
eviction, expiry) is a new epoch; if only the epoch key is gone, the stream is dropped with it.

Both scripts run on the shard's auto-pipelining publisher, so concurrent calls share round trips.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..transport.scripts import Script
from ..transport.shard import Shard
from .positions import Position, new_epoch, next_id

__all__ = ["StreamRead", "append", "read"]

# Add to the stream, trim it, refresh both TTLs and publish the frame with its position: one atomic step,
# so every subscriber sees a message only once it is in the history, with the position it has there.
# The sender names the last message it added to this epoch (ARGV[7], ARGV[8]): if that is gone, and not
# trimmed away at the front, Redis lost acknowledged messages (a failover to a replica without the tail,
# an AOF that lost its last second), and the history starts a new epoch rather than hide the hole.
_APPEND = Script("""
local function before(a, b)
  local am, as = string.match(a, '(%d+)-(%d+)')
  local bm, bs = string.match(b, '(%d+)-(%d+)')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
local meta = redis.call('GET', KEYS[2])
if meta and ARGV[7] ~= '' and string.sub(meta, 1, #ARGV[7] + 1) == ARGV[7] .. '|'
   and #redis.call('XRANGE', KEYS[1], ARGV[8], ARGV[8]) == 0 then
  local oldest = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)[1]
  if not oldest or not before(ARGV[8], oldest[1]) then meta = false end
end
if not meta then redis.call('DEL', KEYS[1]) end
local id = redis.call('XADD', KEYS[1], 'MAXLEN', ARGV[2], '*', 'f', ARGV[1])
if not meta then meta = ARGV[4] .. '|' .. id end
redis.call('SET', KEYS[2], meta, 'PX', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
local epoch = string.sub(meta, 1, string.find(meta, '|', 1, true) - 1)
redis.call(ARGV[5], ARGV[6], ARGV[1] .. cmsgpack.pack(epoch, id))
return {epoch, id}
""")

# The newest position, and the entries after an anchor (or the newest ones): covered (1) only when the
# anchor is of this epoch and still in the stream, so nothing after it can be missing (or, without an
# anchor, when the entries reach back to the epoch's first).
_READ = Script("""
local meta = redis.call('GET', KEYS[2])
if not meta then return {false, false, 0, {}} end
local sep = string.find(meta, '|', 1, true)
local epoch, first = string.sub(meta, 1, sep - 1), string.sub(meta, sep + 1)
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
    shard: Shard, keys: tuple[str, str], topic: bytes, head: bytes, size: int, ttl: float, last: Position | None
) -> Position:
    """Add a HISTORY frame head to the stream and publish the whole frame on ``topic``; returns its position.

    ``last`` is the position of the last message this process added to the group, if it knows one.
    """
    sent = ("", "") if last is None else (last.epoch, last.id)
    args = (head, size, max(1, round(ttl * 1000)), new_epoch(), shard.publish_command, topic, *sent)
    epoch, entry_id = await _APPEND.run(shard.publisher, keys, args)
    return Position(_text(epoch), _text(entry_id))


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
