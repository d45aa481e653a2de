/**
 * The cluster's atomic steps, as Lua scripts run with EVALSHA (loaded on every connect, EVAL if
 * Redis forgot them). Each script reads and changes presence and publishes what it changed in
 * one go, so a change and its announcement can never be seen apart, and "who removes a dead
 * hub's members" has exactly one answer: the script call that took the hub out of `nodes`.
 *
 * Times are Redis's (`TIME`), so hubs on machines with skewed clocks agree on liveness. Keys are
 * built inside the scripts from the prefix (ARGV[1]), which limits the cluster to one Redis (or
 * Valkey) primary; docs/cluster.md says why that is enough. Every answer is an array of strings.
 */
import { createHash } from 'node:crypto';

/** A room's membership counter survives its emptiness by this long (so views never see it go backwards). */
export const EMPTY_ROOM_SEQ_TTL_MS = 24 * 60 * 60 * 1000;

const PREAMBLE = `
local base = ARGV[1]
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function entry_parts(v)
  return string.match(v, '^([^\\n]*)\\n([^\\n]*)\\n([^\\n]*)\\n')
end
local function alive(node, cutoff, cache)
  local known = cache[node]
  if known ~= nil then return known end
  local score = redis.call('ZSCORE', base .. 'nodes', node)
  local ok = (score ~= false and score ~= nil and tonumber(score) >= cutoff)
  cache[node] = ok
  return ok
end
local function announce_left(room, peer, node, conn, reason)
  local seq = redis.call('INCR', base .. 'seq:' .. room)
  redis.call('PUBLISH', base .. 'ch:room:' .. room, 'L\\n' .. seq .. '\\n' .. room .. '\\n' .. peer .. '\\n' .. node .. '\\n' .. conn .. '\\n' .. reason)
  return seq
end
local function announce_joined(room, peer, prev_node, prev_conn, value)
  redis.call('PERSIST', base .. 'seq:' .. room)
  local seq = redis.call('INCR', base .. 'seq:' .. room)
  redis.call('PUBLISH', base .. 'ch:room:' .. room, 'J\\n' .. seq .. '\\n' .. room .. '\\n' .. peer .. '\\n' .. prev_node .. '\\n' .. prev_conn .. '\\n' .. value)
  return seq
end
local function expire_if_empty(room)
  if redis.call('HLEN', base .. 'room:' .. room) == 0 then
    redis.call('DEL', base .. 'room:' .. room)
    redis.call('PEXPIRE', base .. 'seq:' .. room, ${EMPTY_ROOM_SEQ_TTL_MS})
  end
end
-- Removes (and announces) the entries of dead hubs in a room, except \`spare\`'s; returns how many
-- live entries other than \`spare\`'s remain. The lazy half of cleanup: a read never lists the dead.
local function sweep(room, cutoff, cache, spare)
  local key = base .. 'room:' .. room
  local all = redis.call('HGETALL', key)
  local live = 0
  for i = 1, #all, 2 do
    local peer, v = all[i], all[i + 1]
    local node, conn = entry_parts(v)
    if peer ~= spare then
      if node and alive(node, cutoff, cache) then
        live = live + 1
      else
        redis.call('HDEL', key, peer)
        if node then redis.call('SREM', base .. 'owned:' .. node, room .. '\\n' .. peer) end
        announce_left(room, peer, node or '', conn or '', 'disconnected')
      end
    end
  end
  return live
end
local function listing(room, out)
  local all = redis.call('HGETALL', base .. 'room:' .. room)
  for i = 1, #all do out[#out + 1] = all[i] end
  return out
end
`;

/**
 * join: ARGV base, room, peer, node, conn, participantJson, maxPeers, deadAfterMs.
 * Counts the room's live members across the cluster, refuses a full room, writes the entry
 * (keeping joinedAt of the peer's previous entry, even one of a dead hub: the same agent came back
 * elsewhere, so nobody is told it left) and announces it.
 * → {'ok', seq, joinedAt, prevNode, prevConn, peer1, value1, ...} | {'full', liveCount}
 */
const JOIN = `${PREAMBLE}
local room, peer, node, conn, pjson = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local max_peers, dead_after = tonumber(ARGV[7]), tonumber(ARGV[8])
local now = now_ms()
local cache = {}
cache[node] = true
local key = base .. 'room:' .. room
local others = sweep(room, now - dead_after, cache, peer)
if others >= max_peers then return {'full', tostring(others)} end
local prev = redis.call('HGET', key, peer)
local joined_at, prev_node, prev_conn = now, '', ''
if prev then
  local pn, pc, pj = entry_parts(prev)
  if pn then
    prev_node, prev_conn = pn, pc
    joined_at = tonumber(pj) or now
    if pn ~= node then redis.call('SREM', base .. 'owned:' .. pn, room .. '\\n' .. peer) end
  end
end
local value = node .. '\\n' .. conn .. '\\n' .. joined_at .. '\\n' .. pjson
redis.call('HSET', key, peer, value)
redis.call('SADD', base .. 'owned:' .. node, room .. '\\n' .. peer)
local seq = announce_joined(room, peer, prev_node, prev_conn, value)
return listing(room, {'ok', tostring(seq), tostring(joined_at), prev_node, prev_conn})
`;

/**
 * leave: ARGV base, room, peer, node, conn, reason. Removes the entry only if it is still this
 * connection's (a member that moved to another connection or hub is left alone).
 * → {seq} ('0' when nothing was removed)
 */
const LEAVE = `${PREAMBLE}
local room, peer, node, conn, reason = ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6]
local key = base .. 'room:' .. room
local v = redis.call('HGET', key, peer)
if not v then return {'0'} end
local n, c = entry_parts(v)
if n ~= node or c ~= conn then return {'0'} end
redis.call('HDEL', key, peer)
redis.call('SREM', base .. 'owned:' .. node, room .. '\\n' .. peer)
local seq = announce_left(room, peer, node, conn, reason)
expire_if_empty(room)
return {tostring(seq)}
`;

/**
 * snapshot: ARGV base, room, node, deadAfterMs. The room as Redis lists it, dead hubs' entries
 * swept first. → {seq, peer1, value1, ...}
 */
const SNAPSHOT = `${PREAMBLE}
local room, node, dead_after = ARGV[2], ARGV[3], tonumber(ARGV[4])
local cache = {}
cache[node] = true
sweep(room, now_ms() - dead_after, cache, nil)
local seq = redis.call('GET', base .. 'seq:' .. room) or '0'
return listing(room, {seq})
`;

/**
 * heartbeat: ARGV base, node, infoJson. Refreshes this hub's liveness.
 * → {wasAbsent ('1' if this hub had been taken for dead or Redis lost it), now, presenceEntries, node1, score1, ...}
 */
const HEARTBEAT = `${PREAMBLE}
local node, info = ARGV[2], ARGV[3]
local now = now_ms()
local added = redis.call('ZADD', base .. 'nodes', now, node)
redis.call('HSET', base .. 'nodeinfo', node, info)
local nodes = redis.call('ZRANGE', base .. 'nodes', 0, -1, 'WITHSCORES')
local total = 0
for i = 1, #nodes, 2 do total = total + redis.call('SCARD', base .. 'owned:' .. nodes[i]) end
local out = {tostring(added), tostring(now), tostring(total)}
for i = 1, #nodes do out[#out + 1] = tostring(nodes[i]) end
return out
`;

/**
 * reap: ARGV base, deadAfterMs, node. Takes every hub silent for longer than deadAfterMs out of
 * `nodes` and removes (and announces, reason 'disconnected') each of its entries that still
 * points at it; entries that moved to another hub meanwhile are left alone. The ZREM is the
 * claim: whichever hub's call gets there first does it, once.
 * → {deadNodes, removedEntries, now, node1, score1, ...}
 */
const REAP = `${PREAMBLE}
local dead_after, self = tonumber(ARGV[2]), ARGV[3]
local cutoff = now_ms() - dead_after
local dead = redis.call('ZRANGEBYSCORE', base .. 'nodes', '-inf', '(' .. cutoff)
local reaped, removed = 0, 0
for _, node in ipairs(dead) do
  if node ~= self then
    reaped = reaped + 1
    redis.call('ZREM', base .. 'nodes', node)
    redis.call('HDEL', base .. 'nodeinfo', node)
    local owned = base .. 'owned:' .. node
    for _, item in ipairs(redis.call('SMEMBERS', owned)) do
      local room, peer = string.match(item, '^([^\\n]*)\\n(.*)$')
      if room then
        local key = base .. 'room:' .. room
        local v = redis.call('HGET', key, peer)
        if v then
          local n, c = entry_parts(v)
          if n == node then
            redis.call('HDEL', key, peer)
            announce_left(room, peer, n, c, 'disconnected')
            expire_if_empty(room)
            removed = removed + 1
          end
        end
      end
    end
    redis.call('DEL', owned)
  end
end
local out = {tostring(reaped), tostring(removed), tostring(cutoff + dead_after)}
local nodes = redis.call('ZRANGE', base .. 'nodes', 0, -1, 'WITHSCORES')
for i = 1, #nodes do out[#out + 1] = tostring(nodes[i]) end
return out
`;

/**
 * sync: ARGV base, room, node, deadAfterMs, spareCount, spare peers..., then (peer, conn,
 * joinedAt, participantJson) per member this hub holds in the room (spare: peers whose join on
 * this hub is in flight, whose entries must stay). After a reconnect (or when this hub was taken for dead):
 * writes back the entries Redis lost, leaves alone peers that meanwhile joined on another live hub
 * (they are reported as replaced), and removes this hub's entries for members it no longer holds.
 * Room limits are not applied: these members were admitted already.
 * → {seq, replacedCount, replaced1, ..., peer1, value1, ...}
 */
const SYNC = `${PREAMBLE}
local room, node, dead_after = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = base .. 'room:' .. room
local cutoff = now_ms() - dead_after
local cache = {}
cache[node] = true
local held, replaced = {}, {}
local spare_count = tonumber(ARGV[5])
local spare = {}
for i = 6, 5 + spare_count do spare[ARGV[i]] = true end
for i = 6 + spare_count, #ARGV, 4 do
  local peer, conn, joined_at, pjson = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  local v = redis.call('HGET', key, peer)
  local prev_node, prev_conn, take = '', '', true
  if v then
    local n, c, j = entry_parts(v)
    if n and n ~= node and alive(n, cutoff, cache) then
      replaced[#replaced + 1] = peer
      take = false
    elseif n then
      prev_node, prev_conn = n, c
      if n ~= node then
        redis.call('SREM', base .. 'owned:' .. n, room .. '\\n' .. peer)
        joined_at = j
      end
    end
  end
  if take then
    held[peer] = conn
    local value = node .. '\\n' .. conn .. '\\n' .. joined_at .. '\\n' .. pjson
    if v ~= value then
      redis.call('HSET', key, peer, value)
      redis.call('SADD', base .. 'owned:' .. node, room .. '\\n' .. peer)
      announce_joined(room, peer, prev_node, prev_conn, value)
    end
  end
end
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local peer, v = all[i], all[i + 1]
  local n, c = entry_parts(v)
  if n == node and held[peer] ~= c and not spare[peer] then
    redis.call('HDEL', key, peer)
    redis.call('SREM', base .. 'owned:' .. node, room .. '\\n' .. peer)
    announce_left(room, peer, n, c, 'disconnected')
  end
end
sweep(room, cutoff, cache, nil)
expire_if_empty(room)
local seq = redis.call('GET', base .. 'seq:' .. room) or '0'
local out = {seq, tostring(#replaced)}
for _, peer in ipairs(replaced) do out[#out + 1] = peer end
return listing(room, out)
`;

/**
 * prune: ARGV base, node, then the rooms this hub still has members in. Removes (and announces)
 * this hub's entries in every other room: members that left while Redis was unreachable.
 * → {removedEntries}
 */
const PRUNE = `${PREAMBLE}
local node = ARGV[2]
local keep = {}
for i = 3, #ARGV do keep[ARGV[i]] = true end
local owned = base .. 'owned:' .. node
local removed = 0
for _, item in ipairs(redis.call('SMEMBERS', owned)) do
  local room, peer = string.match(item, '^([^\\n]*)\\n(.*)$')
  if room and not keep[room] then
    local key = base .. 'room:' .. room
    local v = redis.call('HGET', key, peer)
    if v then
      local n, c = entry_parts(v)
      if n == node then
        redis.call('HDEL', key, peer)
        announce_left(room, peer, n, c, 'disconnected')
        expire_if_empty(room)
        removed = removed + 1
      end
    end
    redis.call('SREM', owned, item)
  end
end
return {tostring(removed)}
`;

/**
 * retire: ARGV base, node, graceMs. A hub shutting down cleanly: it counts as dead `graceMs` from
 * now (instead of one node timeout after its last heartbeat), so members that reconnect to another
 * hub within that time keep their membership and the rest are reported left soon after.
 * → {score}
 */
const RETIRE = `${PREAMBLE}
local node, grace, dead_after = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local score = now_ms() + grace - dead_after
redis.call('ZADD', base .. 'nodes', 'XX', score, node)
return {tostring(score)}
`;

export interface LuaScript {
  name: string;
  source: string;
  sha1: string;
}

function script(name: string, source: string): LuaScript {
  return { name, source, sha1: createHash('sha1').update(source).digest('hex') };
}

export const SCRIPTS = {
  join: script('join', JOIN),
  leave: script('leave', LEAVE),
  snapshot: script('snapshot', SNAPSHOT),
  heartbeat: script('heartbeat', HEARTBEAT),
  reap: script('reap', REAP),
  sync: script('sync', SYNC),
  prune: script('prune', PRUNE),
  retire: script('retire', RETIRE),
} as const;

export type ScriptName = keyof typeof SCRIPTS;
