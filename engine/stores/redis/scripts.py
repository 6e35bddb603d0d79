"""The Lua scripts the Redis adapter runs: each is atomic on the server, so a unit of work, the
acknowledgement of the entry that caused it and the check that this worker still owns that
entry happen together or not at all.

A script never fails half way on purpose: every ownership check of a unit runs before any of
its writes, and the writes are plain hash, set, stream and sorted-set commands on keys of the
adapter's own prefix. Times come from Redis (`TIME`), never from a worker's clock, so workers
whose clocks disagree schedule retries alike.

A batch travels as one JSON argument, `[prefix, consumer, unit, ...]`, each unit
`[seq, [[stream, group, entry, mode, id], ...], [op, ...], changes, notices]`
(engine.stores.redis.units); the script answers one status per unit (1 applied, 0 discarded
because another worker owns its entry now) and publishes what it applied on the changes
channel, so every worker's mirror and live clients follow in commit order. Every field the
script handles costs it a Lua string, so the units carry no more than the writes need: the
changes a unit announces arrive as ready JSON to join, and each set of names (topics, state
groups) is added to once per batch. Every Redis command a script runs costs it a call, so
the entries a batch settles are acknowledged and deleted together at its end, one `XACK` and
one `XDEL` per stream and group (the script is atomic: nothing sees them in between); only a
delivery that fails and goes back to wait for its retry (`retry`) is settled on its own
first, since its entry found already deleted (`XDEL` answering 0) is a purged one, which is
not to come back.

A purge deletes its topic's entries from the stream and its retries from the sorted set, but
leaves the consumer groups' pending lists alone: a run already under way on some worker still
commits, and its entry, gone from the stream, is not retried (`gone`); a worker that gives
up on it still keeps its dead letter, the record of a run that failed.
"""

from __future__ import annotations

COMMIT = """
local batch = cjson.decode(ARGV[1])
local p = batch[1]
local me = batch[2]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local status = {}
local changed = {}
local notices = {}
local queued = 0
local gone = {}
local known = {}
local function remember(set, member)
  local seen = known[set]
  if not seen then
    seen = {}
    known[set] = seen
  end
  if not seen[member] then
    seen[member] = true
    redis.call('SADD', set, member)
  end
end
local settled, settled_streams = {}, {}
local function settle(stream, group, entry)
  local groups = settled[stream]
  if not groups then
    groups = {}
    settled[stream] = groups
    settled_streams[#settled_streams + 1] = stream
  end
  local ids = groups[group]
  if not ids then
    ids = {}
    groups[group] = ids
  end
  ids[#ids + 1] = entry
end
local function enqueue(op)
  if gone[op[4]] then return end
  remember(p .. ':topics', op[2])
  local delay = op[6]
  if delay > 0 then
    redis.call('ZADD', p .. ':retry', now + delay,
      cjson.encode({op[2], {'id', op[4], 'step', op[3], 'e', op[5]}}))
  else
    redis.call('XADD', p .. ':topic:' .. op[2], '*', 'id', op[4], 'step', op[3], 'e', op[5])
    queued = queued + 1
  end
end
local function purge(topic)
  local key = p .. ':topic:' .. topic
  while true do
    local rows = redis.call('XRANGE', key, '-', '+', 'COUNT', 1000)
    if #rows == 0 then break end
    local ids = {}
    for i, row in ipairs(rows) do
      ids[i] = row[1]
      redis.call('HDEL', p .. ':attempts', row[2][2])
    end
    redis.call('XDEL', key, unpack(ids))
  end
  for _, member in ipairs(redis.call('ZRANGE', p .. ':retry', 0, -1)) do
    if cjson.decode(member)[1] == topic then redis.call('ZREM', p .. ':retry', member) end
  end
end
for ui = 3, #batch do
  local unit = batch[ui]
  local acks = unit[2]
  local owned = true
  for _, a in ipairs(acks) do
    if #redis.call('XPENDING', a[1], a[2], a[3], a[3], 1, me) == 0 then
      owned = false
      break
    end
  end
  if not owned then
    status[ui - 2] = 0
  else
    status[ui - 2] = 1
    for _, a in ipairs(acks) do
      local mode = a[4]
      if mode == 'hold' then
        if #redis.call('XRANGE', a[1], a[3], a[3]) == 0 then gone[a[5]] = true end
      elseif mode == 'retry' then
        redis.call('XACK', a[1], a[2], a[3])
        if redis.call('XDEL', a[1], a[3]) == 0 then gone[a[5]] = true end
      else
        settle(a[1], a[2], a[3])
        if mode == 'fack' then redis.call('HDEL', p .. ':attempts', a[5]) end
      end
    end
    for _, op in ipairs(unit[3]) do
      local k = op[1]
      if k == 'q' then
        enqueue(op)
      elseif k == 's' then
        redis.call('HSET', p .. ':state:' .. op[2], op[3], op[4])
        remember(p .. ':state-groups', op[2])
      elseif k == 'd' then
        local key = p .. ':state:' .. op[2]
        redis.call('HDEL', key, op[3])
        if redis.call('EXISTS', key) == 0 then
          redis.call('SREM', p .. ':state-groups', op[2])
          known[p .. ':state-groups'] = nil
        end
      elseif k == 'c' then
        redis.call('DEL', p .. ':state:' .. op[2])
        redis.call('SREM', p .. ':state-groups', op[2])
        known[p .. ':state-groups'] = nil
      elseif k == 'i' then
        redis.call('HSET', p .. ':items:' .. op[2] .. ':' .. op[3], op[4], op[5])
        remember(p .. ':item-groups:' .. op[2], op[3])
        remember(p .. ':item-streams', op[2])
      elseif k == 'j' then
        local key = p .. ':items:' .. op[2] .. ':' .. op[3]
        redis.call('HDEL', key, op[4])
        if redis.call('EXISTS', key) == 0 then
          redis.call('SREM', p .. ':item-groups:' .. op[2], op[3])
          known[p .. ':item-groups:' .. op[2]] = nil
        end
      elseif k == 'h' then
        redis.call('HSET', p .. ':attempts', op[2], op[3])
      elseif k == 'p' then
        purge(op[2])
      elseif k == 'x' then
        local entry = redis.call('XADD', p .. ':dlq', '*', 'id', op[2], 'd', op[3])
        redis.call('HSET', p .. ':dlq-index', op[2], entry)
      elseif k == 'y' then
        local entry = redis.call('HGET', p .. ':dlq-index', op[2])
        if entry then
          redis.call('XDEL', p .. ':dlq', entry)
          redis.call('HDEL', p .. ':dlq-index', op[2])
        end
      end
    end
    if unit[4] ~= '' then changed[#changed + 1] = unit[4] end
    if unit[5] ~= '' then notices[#notices + 1] = unit[5] end
  end
end
for _, stream in ipairs(settled_streams) do
  for group, ids in pairs(settled[stream]) do
    each(ids, 1000, function(part) redis.call('XACK', stream, group, unpack(part)) end)
    each(ids, 1000, function(part) redis.call('XDEL', stream, unpack(part)) end)
  end
end
if #changed > 0 or #notices > 0 or queued > 0 then
  redis.call('PUBLISH', p .. ':changes', '{"w":' .. cjson.encode(me) .. ',"o":[' ..
    table.concat(changed, ',') .. '],"n":[' .. table.concat(notices, ',') .. '],"q":' ..
    queued .. '}')
end
return status
"""
MOVE_DUE = """
local p = ARGV[1]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', p .. ':retry', '-inf', now, 'LIMIT', 0, 500)
for _, member in ipairs(due) do
  local entry = cjson.decode(member)
  redis.call('XADD', p .. ':topic:' .. entry[1], '*', unpack(entry[2]))
  redis.call('ZREM', p .. ':retry', member)
end
if #due > 0 then
  redis.call('PUBLISH', p .. ':changes', cjson.encode({w = '', o = {}, n = {}, q = #due}))
end
return #due
"""
"""Retries (and delayed first deliveries) whose time has come, from the sorted set to their
topic's stream; any worker may run it, and two running it at once move each entry once."""

GIVE_BACK = """
local p = ARGV[1]
local me = ARGV[2]
local entries = cjson.decode(ARGV[3])
local given = 0
for _, a in ipairs(entries) do
  if #redis.call('XPENDING', a[1], a[2], a[3], a[3], 1, me) > 0 then
    local found = redis.call('XRANGE', a[1], a[3], a[3])
    redis.call('XACK', a[1], a[2], a[3])
    redis.call('XDEL', a[1], a[3])
    if #found > 0 then
      redis.call('XADD', a[1], '*', unpack(found[1][2]))
      given = given + 1
    end
  end
end
if given > 0 then
  redis.call('PUBLISH', p .. ':changes', cjson.encode({w = '', o = {}, n = {}, q = given}))
end
return given
"""
"""A draining worker's unfinished entries, handed back as new entries of their streams at
once (same attempt number), so the others need not wait for a timeout to take them."""

TRIM_TRACES = """
local p = ARGV[1]
local over = redis.call('ZCARD', p .. ':traces') - tonumber(ARGV[2])
if over > 0 then
  local old = redis.call('ZPOPMIN', p .. ':traces', over)
  local keys = {}
  for i = 1, #old, 2 do
    keys[#keys + 1] = p .. ':trace:' .. old[i]
  end
  each(keys, 500, function(part) redis.call('DEL', unpack(part)) end)
end
return 0
"""
"""The oldest traces leave whole once more than the configured number are kept (their starts
index them in a sorted set); the spans themselves arrive as plain commands."""

TRIGGERS = """
local p = ARGV[1]
local count = tonumber(ARGV[2])
local bytes = tonumber(ARGV[3])
local hash, order, total = p .. ':triggers', p .. ':triggers:order', p .. ':triggers:bytes'
local sizes, fields, scores = {}, {}, {}
local grown = 0
for i = 4, #ARGV, 3 do
  local trace, data = ARGV[i], ARGV[i + 2]
  local before = sizes[trace] or redis.call('HSTRLEN', hash, trace)
  sizes[trace] = string.len(data)
  grown = grown + sizes[trace] - before
  fields[#fields + 1] = trace
  fields[#fields + 1] = data
  scores[#scores + 1] = ARGV[i + 1]
  scores[#scores + 1] = trace
end
each(fields, 1000, function(part) redis.call('HSET', hash, unpack(part)) end)
each(scores, 1000, function(part) redis.call('ZADD', order, unpack(part)) end)
redis.call('INCRBY', total, grown)
local function drop(oldest)
  local names, freed = {}, 0
  for i = 1, #oldest, 2 do
    names[#names + 1] = oldest[i]
    freed = freed + redis.call('HSTRLEN', hash, oldest[i])
  end
  each(names, 500, function(part) redis.call('HDEL', hash, unpack(part)) end)
  redis.call('DECRBY', total, freed)
end
local over = redis.call('ZCARD', order) - count
if over > 0 then drop(redis.call('ZPOPMIN', order, over)) end
while tonumber(redis.call('GET', total) or '0') > bytes do
  local oldest = redis.call('ZPOPMIN', order)
  if #oldest == 0 then break end
  drop(oldest)
end
return 0
"""
"""Each trace's whole trigger in one hash, ordered by time in a sorted set: the oldest leave
first until both the count and the byte bound hold (beyond the count, in one `ZPOPMIN`).
The triggers arrive as (trace, time, data) triples of arguments, not one JSON text to
decode."""

EACH = """
local function each(items, size, call)
  for i = 1, #items, size do
    call({unpack(items, i, math.min(i + size - 1, #items))})
  end
end
"""
"""Lua's `unpack` is bounded by its stack: long argument lists go in parts of `size`."""

COMMIT = EACH + COMMIT
TRIM_TRACES = EACH + TRIM_TRACES
TRIGGERS = EACH + TRIGGERS

RENEW_LOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) and 1 or 0
"""
"""Take a fifo step's cluster lock, or keep it when this worker holds it already."""
