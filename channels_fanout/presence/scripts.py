"""The Lua scripts of presence: each one reaps dead processes, then does its work, atomically, on one group's slot.

Keys (``Names.group_key``, all in the slot of the group's topic):

    KEYS[1]  <prefix>:presence:{group}              hash: channel -> entry, the JSON text [key, meta]
    KEYS[2]  <prefix>:presence-keys:{group}         hash: key -> number of its tracked channels
    KEYS[3]  <prefix>:presence-processes:{group}    sorted set: client id -> deadline in ms of Redis's
                                                    clock, or minus the time it was reaped (a tombstone)
    KEYS[4]  <prefix>:presence:{group}:<client id>  set: this process's channels in the group

ARGV: client id, timeout ms, tombstone retention ms, publish command ('' when events are off),
the group's topic, the group; then the script's own arguments. The scripts compare a key's
presence before and after their work: a key that appeared joined, one that vanished left.
Each script publishes at most two frames on the group's topic, ``[PRESENCE, group, joins,
leaves]`` with lists of entries: one for the processes it reaped, one for its own work.
Every script but REAP returns ``{done, this process's channel count, processes reaped}``; ``done`` is
0 when this process's entries are not in Redis as it believes (it was reaped, or Redis lost them),
and nothing was changed: the caller then re-asserts with ``SYNC``.
"""

from __future__ import annotations

from ..envelope import PRESENCE
from ..transport.scripts import Script

__all__ = ["BEAT", "LEAVE", "REAP", "SYNC", "TRACK", "UNTRACK"]

_PRELUDE = """
redis.replicate_commands()  -- TIME before writes: needed on Redis 5 and 6, a no-op on 7
local entries, counts, processes, mine = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local me, timeout, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local publish, topic, group = ARGV[4], ARGV[5], ARGV[6]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function touch(diff, key)
  local seen = diff[key]
  if not seen then
    seen = {present = redis.call('HEXISTS', counts, key) == 1, added = {}, removed = {}}
    diff[key] = seen
  end
  return seen
end

local function key_of(entry) return cjson.decode(entry)[1] end

local function take(diff, channel)
  local entry = redis.call('HGET', entries, channel)
  if not entry then return end
  local key = key_of(entry)
  table.insert(touch(diff, key).removed, entry)
  redis.call('HDEL', entries, channel)
  if redis.call('HINCRBY', counts, key, -1) <= 0 then redis.call('HDEL', counts, key) end
end

local function put(diff, channel, entry)
  local old = redis.call('HGET', entries, channel)
  if old == entry then return end
  local key = key_of(entry)
  if old and key_of(old) == key then
    redis.call('HSET', entries, channel, entry)  -- a new meta for the same key: not a join
    return
  end
  if old then take(diff, channel) end
  table.insert(touch(diff, key).added, entry)
  redis.call('HINCRBY', counts, key, 1)
  redis.call('HSET', entries, channel, entry)
end

local function announce(diff)
  if publish == '' then return end
  local joins, leaves = {}, {}
  for key, seen in pairs(diff) do
    local present = redis.call('HEXISTS', counts, key) == 1
    local into, changed = nil, nil
    if present and not seen.present then into, changed = joins, seen.added end
    if seen.present and not present then into, changed = leaves, seen.removed end
    if into then
      for _, entry in ipairs(changed) do into[#into + 1] = entry end
    end
  end
  if #joins > 0 or #leaves > 0 then
    redis.call(publish, topic, cmsgpack.pack({PRESENCE_KIND, group, joins, leaves}))
  end
end

-- Processes whose deadline passed (never this one: it is running this script) lose their
-- entries, and leave a tombstone so that, back from a partition, they learn they were reaped.
local function reap()
  local dead = redis.call('ZRANGEBYSCORE', processes, '(0', now)
  local diff, reaped = {}, 0
  for _, process in ipairs(dead) do
    if process ~= me then
      local set = entries .. ':' .. process
      for _, channel in ipairs(redis.call('SMEMBERS', set)) do take(diff, channel) end
      redis.call('DEL', set)
      redis.call('ZADD', processes, -now, process)
      reaped = reaped + 1
    end
  end
  redis.call('ZREMRANGEBYSCORE', processes, '(' .. string.format('%d', retention - now), '(0')
  announce(diff)
  return reaped
end

local function alive()
  local score = redis.call('ZSCORE', processes, me)
  return score and tonumber(score) > 0
end

local function live()
  redis.call('ZADD', processes, now + timeout, me)
  for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, retention) end
end
""".replace("PRESENCE_KIND", str(PRESENCE))


def _script(body: str) -> Script:
    return Script(_PRELUDE + body)


#: ARGV[7] channel, ARGV[8] entry, ARGV[9] '1' if this process tracks nothing else in the group.
TRACK = _script("""
local reaped = reap()
if ARGV[9] ~= '1' and not alive() then return {0, 0, reaped} end
local diff = {}
put(diff, ARGV[7], ARGV[8])
redis.call('SADD', mine, ARGV[7])
live()
announce(diff)
return {1, redis.call('SCARD', mine), reaped}
""")

#: ARGV[7] channel. The last channel of this process in the group takes the process off the group.
UNTRACK = _script("""
local reaped = reap()
if not alive() then return {0, 0, reaped} end
local diff = {}
if redis.call('SREM', mine, ARGV[7]) == 1 then take(diff, ARGV[7]) end
announce(diff)
local left = redis.call('SCARD', mine)
if left == 0 then redis.call('ZREM', processes, me) else live() end
return {1, left, reaped}
""")

#: Keeps this process's entries alive, whatever their number.
BEAT = _script("""
local reaped = reap()
if not alive() then return {0, 0, reaped} end
live()
return {1, redis.call('SCARD', mine), reaped}
""")

#: ARGV[7..] channel, entry pairs: all of this process's entries in the group. Adds before it
#: removes, so a key that moved between channels neither leaves nor joins. A process Redis does
#: not know (restarted without persistence) re-asserts silently: nobody was told it left.
SYNC = _script("""
local reaped = reap()
local known = redis.call('ZSCORE', processes, me)
local diff, wanted = {}, {}
for i = 7, #ARGV, 2 do
  put(diff, ARGV[i], ARGV[i + 1])
  redis.call('SADD', mine, ARGV[i])
  wanted[ARGV[i]] = true
end
for _, channel in ipairs(redis.call('SMEMBERS', mine)) do
  if not wanted[channel] then
    take(diff, channel)
    redis.call('SREM', mine, channel)
  end
end
if known then announce(diff) end
if #ARGV > 6 then live() else redis.call('ZREM', processes, me) end
return {1, redis.call('SCARD', mine), reaped}
""")

#: This process stops cleanly: all its entries leave, and it is forgotten (no tombstone).
LEAVE = _script("""
local reaped = reap()
local diff = {}
for _, channel in ipairs(redis.call('SMEMBERS', mine)) do take(diff, channel) end
redis.call('DEL', mine)
redis.call('ZREM', processes, me)
announce(diff)
return {1, 0, reaped}
""")

#: Returns the number of processes reaped; a list reads the entries beside it (``Store.read``).
REAP = _script("""
return reap()
""")
