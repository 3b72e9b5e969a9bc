/**
 * CoordStore on Redis (ioredis), with exactly the semantics of MemoryCoordStore: every method is
 * one round trip (one Lua script, or one plain command), so split registers a whole batch with one
 * call and a drain task claims and commits many apps with two.
 *
 * Keys (ns = keyPrefix, default "lp"). One script touches many apps' keys, so every key carries
 * the same hash tag `{ns}`: a cluster would keep them in one slot. The scripts compute key names
 * from ARGV (only the tag is passed as KEYS[1]), which Redis accepts on a standalone or
 * master-replica deployment — what infra deploys — but which a cluster proxy that checks declared
 * keys would refuse.
 *
 *   {ns}:part:<topic>/<partition>  hash hw, ranges, gaps, maxTs, inc   (partition dedup state)
 *   {ns}:file:<id>                 hash rem (sections and tail regions still pending), keep ("" = all offsets)
 *   {ns}:pend:<app>                list of pending sections (ENTRY below)
 *   {ns}:pendb                     hash app → pending bytes
 *   {ns}:due                       zset app → oldest stagedAt of its pending or claimed sections
 *   {ns}:claims:<app>              hash slot → stagedAt of the head of the slot's claim (non-empty claims only)
 *   {ns}:sched:<app>               string: epoch ms until which the app is not hot again (PX ttl)
 *   {ns}:slot:<app>:<n>            hash gen, len, t0, sgen, skey, tainted, holder, claim
 *   {ns}:lock:<app>:<n>            string token (PX ttl)
 *   {ns}:apps / {ns}:over          zset admitted / overflowed app → last use
 *   {ns}:lease:<name>              string token (PX ttl)
 *   {ns}:sealq                     zset "app\nslot" → t0 of its generation, 0 once it holds ≥ sealBytes (slots with data)
 *   {ns}:every:<name>              string: epoch ms a periodic job (claimPeriodics) last ran
 *   {ns}:tq:<shard>                list of a tail shard's queued regions (ENTRY below, index t<shard>)
 *   {ns}:tclaim:<shard>            hash id (token of the task that made it), lines (its entries), at (oldest
 *                                  stagedAt), total (its apps, once recorded), done, a:<app> (slot it was placed in, or d = done)
 *   {ns}:tlock:<shard>             string token (PX ttl)
 *   {ns}:tdue                      zset shard → oldest stagedAt of its queued and claimed entries
 *   {ns}:tbytes                    hash shard → bytes of its queued regions (not yet claimed)
 *   {ns}:tskew                     set of shards whose queue is not in staging order (an older entry behind a newer)
 *
 * A pending section is `index \t off \t len \t records \t stagedAt \t minTs \t keep \t file` (keep:
 * the file's offsets to keep, "" = all; index: the section's number, or t<shard> for a tail region
 * of the file); a claim is such sections, one per line. Offsets may exceed 2^31: Lua numbers are
 * doubles (exact to 2^53) and are written with %.0f, never tostring (which would print 1e+15).
 */
import { Redis, type RedisOptions } from "ioredis";
import { decodeIntervals, type Interval } from "../core/intervals.js";
import {
  withFullShards,
  type AdoptRequest, type AdoptResult, type ClaimedSection, type CoordStore, type DrainClaim, type DrainCommit, type DrainCommitResult,
  type PeriodicMark, type RegisterFile, type RegisterOptions, type RegisterResult, type SlotState, type SmallAppRule,
  type SealRecord, type TailClaim, type TailCommitResult, type TailPlacement,
} from "./coord-store.js";

const LUA_PRELUDE = `
local P = KEYS[1] .. ':'
local BIG = 9007199254740991
local function fmt(n) return string.format('%.0f', n) end
local function num(s) return tonumber(s or '0') or 0 end

-- intervals (functions/core/intervals.ts): sorted, merged, inclusive, encoded "a-b,c-d"
local function decode(s)
  local out = {}
  if s and s ~= '' then
    for a, b in string.gmatch(s, '(%d+)-(%d+)') do out[#out + 1] = {tonumber(a), tonumber(b)} end
  end
  return out
end
local function encode(list)
  local parts = {}
  for i = 1, #list do parts[i] = fmt(list[i][1]) .. '-' .. fmt(list[i][2]) end
  return table.concat(parts, ',')
end
local function union(x, y)
  local all = {}
  for i = 1, #x do all[#all + 1] = {x[i][1], x[i][2]} end
  for i = 1, #y do all[#all + 1] = {y[i][1], y[i][2]} end
  table.sort(all, function(p, q) return p[1] < q[1] end)
  local out = {}
  for i = 1, #all do
    local last = out[#out]
    if last and all[i][1] <= last[2] + 1 then
      if all[i][2] > last[2] then last[2] = all[i][2] end
    else
      out[#out + 1] = all[i]
    end
  end
  return out
end
local function subtract(a, b)
  local out = {}
  local j = 1
  for i = 1, #a do
    local s, e = a[i][1], a[i][2]
    while j <= #b and b[j][2] < s do j = j + 1 end
    local k = j
    while k <= #b and b[k][1] <= e do
      if b[k][1] > s then out[#out + 1] = {s, b[k][1] - 1} end
      s = b[k][2] + 1
      if s > e then break end
      k = k + 1
    end
    if s <= e then out[#out + 1] = {s, e} end
  end
  return out
end
local function intersect(a, b)
  local out = {}
  local i, j = 1, 1
  while i <= #a and j <= #b do
    local s = math.max(a[i][1], b[j][1])
    local e = math.min(a[i][2], b[j][2])
    if s <= e then out[#out + 1] = {s, e} end
    if a[i][2] < b[j][2] then i = i + 1 else j = j + 1 end
  end
  return out
end

-- sections
local function parse_entry(raw)
  -- index: a section's number, or t<shard> for a tail region
  local idx, len, at, file = string.match(raw, '^(t?%d+)\\t%d+\\t(%d+)\\t%d+\\t(%d+)\\t%-?%d+\\t[%d,%-]*\\t(.*)$')
  return {raw = raw, file = file, ref = file .. '#' .. idx, len = tonumber(len), at = tonumber(at)}
end
local function parse_claim(s)
  local out = {}
  if s and s ~= '' then
    for line in string.gmatch(s, '[^\\n]+') do out[#out + 1] = parse_entry(line) end
  end
  return out
end

-- keys
local function slot_key(app, slot) return P .. 'slot:' .. app .. ':' .. slot end
local function lock_key(app, slot) return P .. 'lock:' .. app .. ':' .. slot end
local function pend_key(app) return P .. 'pend:' .. app end
local function claims_key(app) return P .. 'claims:' .. app end
local function file_key(file) return P .. 'file:' .. file end
local PENDB = P .. 'pendb'
local DUE = P .. 'due'
local SEALQ = P .. 'sealq'
local function sealq_member(app, slot) return app .. '\\n' .. slot end
local function tq_key(shard) return P .. 'tq:' .. shard end
local function tclaim_key(shard) return P .. 'tclaim:' .. shard end
local function tlock_key(shard) return P .. 'tlock:' .. shard end
local TDUE = P .. 'tdue'
local TBYTES = P .. 'tbytes'
local TSKEW = P .. 'tskew'

local function holds(app, slot, token) return redis.call('GET', lock_key(app, slot)) == token end
local function view(app, slot)
  local st = redis.call('HMGET', slot_key(app, slot), 'gen', 'len', 't0', 'sgen', 'skey', 'tainted')
  return {st[1] or '0', st[2] or '0', st[3] or '0', st[4] or '', st[5] or '', st[6] or ''}
end
-- the lock is free: take it; a holder that never released taints the generation
local function take_lock(app, slot, token, ttl)
  if not redis.call('SET', lock_key(app, slot), token, 'NX', 'PX', ttl) then return false end
  local sk = slot_key(app, slot)
  -- HSET answers 0 when it replaced a holder
  if redis.call('HSET', sk, 'holder', token) == 0 then redis.call('HSET', sk, 'tainted', '1') end
  return true
end
-- k sections or regions of the file counted off (one HINCRBY); the file is gone with its last.
-- Returns which of the k was its last (1..k) when the file went with them, else nil: a file with r
-- left goes with the r-th (1 <= r <= k); one Redis does not know (already gone) comes back at
-- exactly -k (a known one has rem >= 1) and is not reported.
local function count_off(file, k)
  local fk = file_key(file)
  local rem = redis.call('HINCRBY', fk, 'rem', -k)
  if rem > 0 then return nil end
  redis.call('DEL', fk)
  local r = rem + k
  if r >= 1 then return r end
  return nil
end
-- one section of the file consumed; the file is gone with its last section
local function consume(file, gone)
  if count_off(file, 1) then gone[#gone + 1] = file end
end
-- an app is due while it has pending sections or a slot with a claim; score = oldest head
local function recompute_due(app)
  local best = nil
  local head = redis.call('LINDEX', pend_key(app), 0)
  if head then best = parse_entry(head).at end
  local heads = redis.call('HVALS', claims_key(app))
  for i = 1, #heads do
    local at = tonumber(heads[i])
    if best == nil or at < best then best = at end
  end
  if best == nil then redis.call('ZREM', DUE, app) else redis.call('ZADD', DUE, fmt(best), app) end
end
local function save_claim(app, slot, claim)
  local sk = slot_key(app, slot)
  if #claim == 0 then
    redis.call('HDEL', sk, 'claim')
    redis.call('HDEL', claims_key(app), slot)
    return
  end
  local lines = {}
  for i = 1, #claim do lines[i] = claim[i].raw end
  redis.call('HSET', sk, 'claim', table.concat(lines, '\\n'))
  redis.call('HSET', claims_key(app), slot, fmt(claim[1].at))
end
local function forget_empty_queue(app)
  if redis.call('LLEN', pend_key(app)) == 0 then redis.call('HDEL', PENDB, app) end
end
local function bump_gen(app, slot, gen)
  local sk = slot_key(app, slot)
  redis.call('HSET', sk, 'gen', fmt(gen + 1), 'len', '0', 't0', '0')
  redis.call('HDEL', sk, 'sgen', 'skey', 'tainted')
  redis.call('ZREM', SEALQ, sealq_member(app, slot))
end

-- One commit (commitDrains, commitTail): still the holder and the state unchanged → len +=
-- addLen, t0 (from startedAt, "0" = now), seal queue, the lock given back when release == '1'.
-- With refsText ("\\n"-joined refs), the refs are taken out of the slot's claim and each is passed
-- to note(file, gone) to be counted off; without (a tail commit), the slot's claim is not touched.
-- → {'ok', state, gone} or {reason}
local function commit_slot(token, app, slot, gen, expectLen, addLen, release, startedAt, now, sealBytes, refsText, note)
  if not holds(app, slot, token) then return {'lost-lock'} end
  local sk = slot_key(app, slot)
  local st
  if refsText then st = redis.call('HMGET', sk, 'gen', 'len', 't0', 'sgen', 'tainted', 'holder', 'claim')
  else st = redis.call('HMGET', sk, 'gen', 'len', 't0', 'sgen', 'tainted', 'holder') end
  if num(st[1]) ~= gen or num(st[2]) ~= expectLen or st[4] then return {'stale-state'} end
  local gone = {}
  local claim, rest = nil, nil
  if refsText then
    local refs = {}
    for r in string.gmatch(refsText, '[^\\n]+') do refs[r] = true end
    claim, rest = parse_claim(st[7]), {}
    for _, c in ipairs(claim) do
      if refs[c.ref] then note(c.file, gone) else rest[#rest + 1] = c end
    end
  end
  local t0 = num(st[3])
  if t0 == 0 and addLen > 0 then
    t0 = now
    if startedAt > 0 and startedAt < now then t0 = startedAt end
  end
  redis.call('HSET', sk, 'len', fmt(expectLen + addLen), 't0', fmt(t0))
  if expectLen + addLen >= sealBytes then redis.call('ZADD', SEALQ, '0', sealq_member(app, slot))
  elseif t0 > 0 then redis.call('ZADD', SEALQ, 'NX', fmt(t0), sealq_member(app, slot)) end
  if claim and #rest < #claim then
    save_claim(app, slot, rest)
    recompute_due(app)
  end
  if release == '1' then
    if st[6] == token then redis.call('HDEL', sk, 'holder') end
    redis.call('DEL', lock_key(app, slot))
  end
  return {'ok', {fmt(gen), fmt(expectLen + addLen), fmt(t0), '', '', st[5] or ''}, gone}
end

-- tail shards: a shard is due while it has queued entries or a claim; score = its oldest queued or
-- claimed entry. Registration lowers it (ZADD LT), a claim taken leaves it (its entries only moved);
-- when a claim ends (or nothing is left) it is recomputed: from the queue's head, which is its
-- oldest entry while the queue is in staging order, else (the shard is in tskew: an entry was
-- queued behind a later one, by a split whose clock is behind) from every queued entry.
local function recompute_tail_due(shard)
  local qk = tq_key(shard)
  local best = nil
  if redis.call('SISMEMBER', TSKEW, shard) == 1 then
    local sorted, prev = true, nil
    for _, raw in ipairs(redis.call('LRANGE', qk, 0, -1)) do
      local at = parse_entry(raw).at
      if prev and at < prev then sorted = false end
      prev = at
      if best == nil or at < best then best = at end
    end
    if sorted then redis.call('SREM', TSKEW, shard) end
  else
    local head = redis.call('LINDEX', qk, 0)
    if head then best = parse_entry(head).at end
  end
  local at = redis.call('HGET', tclaim_key(shard), 'at')
  if at then
    at = tonumber(at)
    if best == nil or at < best then best = at end
  end
  if best == nil then redis.call('ZREM', TDUE, shard) else redis.call('ZADD', TDUE, fmt(best), shard) end
end
-- marks app done in the shard's claim if the claim is id and the app is not done yet (true then)
local function tail_done(shard, id, app)
  local ck = tclaim_key(shard)
  local h = redis.call('HMGET', ck, 'id', 'a:' .. app)
  if h[1] ~= id or h[2] == 'd' then return false end
  redis.call('HSET', ck, 'a:' .. app, 'd')
  redis.call('HINCRBY', ck, 'done', 1)
  return true
end
-- claim id ends when its total is recorded and every app of it is done, or with force (END_TAIL)
-- whatever their progress: each entry's file counted off once (one HINCRBY per file), files gone
-- appended to gone, the claim deleted (true then)
local function end_tail_claim(shard, id, gone, force)
  local ck = tclaim_key(shard)
  local h = redis.call('HMGET', ck, 'id', 'total', 'done', 'lines')
  if h[1] ~= id then return false end
  if not force and (not h[2] or num(h[3]) < num(h[2])) then return false end
  local files, counts = {}, {}
  for _, e in ipairs(parse_claim(h[4])) do
    local k = counts[e.file]
    if k == nil then files[#files + 1] = e.file end
    counts[e.file] = (k or 0) + 1
  end
  for _, file in ipairs(files) do
    if count_off(file, counts[file]) then gone[#gone + 1] = file end
  end
  redis.call('DEL', ck)
  recompute_tail_due(shard)
  return true
end
`;

// ARGV: cap, now, ttlMs, apps... → 1/0 per app
const ADMIT = LUA_PRELUDE + `
local cap, now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local APPS, OVER = P .. 'apps', P .. 'over'
redis.call('ZREMRANGEBYSCORE', APPS, '-inf', '(' .. fmt(now - ttl))
redis.call('ZREMRANGEBYSCORE', OVER, '-inf', '(' .. fmt(now - ttl))
local admitted = redis.call('ZCARD', APPS)
local out = {}
for i = 4, #ARGV do
  local app = ARGV[i]
  if redis.call('ZSCORE', APPS, app) then
    out[#out + 1] = 1
    redis.call('ZADD', APPS, fmt(now), app)
  elseif redis.call('ZSCORE', OVER, app) then
    out[#out + 1] = 0
    redis.call('ZADD', OVER, fmt(now), app)
  elseif admitted < cap then
    admitted = admitted + 1
    out[#out + 1] = 1
    redis.call('ZADD', APPS, fmt(now), app)
  else
    out[#out + 1] = 0
    redis.call('ZADD', OVER, fmt(now), app)
  end
end
return out
`;

// ARGV[1]: JSON {now, drainBytes, ttl, maxRanges, maxGaps, files: [{file, topic, partition, first,
// last, minTs, maxTs, sections: [[app, "index\\toff\\tlen\\trecords\\tnow\\tminTs", len]],
// tails (optional): [[shard, "t<shard>\\toff\\tlen\\trecords\\tnow\\tminTs"]]}]}
// → {{status, keep, previousHw, incarnation} per file, hot apps}
const REGISTER = LUA_PRELUDE + `
local a = cjson.decode(ARGV[1])
local now = a.now
-- core/partition-state.ts registerRange(), line for line
local function register_range(st, first, last, minTs, maxTs, maxRanges, maxGaps)
  local reset = nil
  if first < st.hw and minTs > 0 and st.maxTs > 0 and minTs > st.maxTs then
    reset = {st.hw, st.inc + 1}
    st = {hw = 0, ranges = {}, gaps = {}, maxTs = 0, inc = st.inc + 1}
  end
  local range = {{first, last}}
  local above = {{st.hw, BIG}}
  local open = union(st.gaps, above)
  local keep = subtract(intersect(range, open), st.ranges)
  st.ranges = union(st.ranges, intersect(range, above))
  st.gaps = subtract(st.gaps, range)
  while #st.ranges > 0 and st.ranges[1][1] <= st.hw do
    st.hw = math.max(st.hw, st.ranges[1][2] + 1)
    table.remove(st.ranges, 1)
  end
  while #st.ranges > maxRanges do
    local r = table.remove(st.ranges, 1)
    st.gaps[#st.gaps + 1] = {st.hw, r[1] - 1}
    st.hw = r[2] + 1
  end
  while #st.gaps > maxGaps do table.remove(st.gaps, 1) end
  st.maxTs = math.max(st.maxTs, maxTs)
  return st, keep, reset
end

local results, touched, seen, pending = {}, {}, {}, {}
local nowText = fmt(now)
local nowAt = tonumber(nowText)
local NONE = {}
for _, f in ipairs(a.files) do
  local fk = file_key(f.file)
  if redis.call('EXISTS', fk) == 1 then
    results[#results + 1] = {'known', redis.call('HGET', fk, 'keep') or '', '', ''}
  else
    local pk = P .. 'part:' .. f.topic .. '/' .. fmt(f.partition)
    local h = redis.call('HMGET', pk, 'hw', 'ranges', 'gaps', 'maxTs', 'inc')
    local st = {hw = num(h[1]), ranges = decode(h[2]), gaps = decode(h[3]), maxTs = num(h[4]), inc = num(h[5])}
    local keep, reset
    st, keep, reset = register_range(st, f.first, f.last, f.minTs, f.maxTs, a.maxRanges, a.maxGaps)
    redis.call('HSET', pk, 'hw', fmt(st.hw), 'ranges', encode(st.ranges), 'gaps', encode(st.gaps), 'maxTs', fmt(st.maxTs), 'inc', fmt(st.inc))
    local full = #keep == 1 and keep[1][1] == f.first and keep[1][2] == f.last
    local status = 'partial'
    if #keep == 0 then status = 'duplicate' elseif full then status = 'registered' end
    if reset then results[#results + 1] = {status, encode(keep), fmt(reset[1]), fmt(reset[2])}
    else results[#results + 1] = {status, encode(keep), '', ''} end
    local tails = f.tails or NONE
    if #keep > 0 and #f.sections + #tails > 0 then
      local keepText = ''
      if not full then keepText = encode(keep) end
      redis.call('HSET', fk, 'rem', #f.sections + #tails, 'keep', keepText)
      local tail = '\\t' .. keepText .. '\\t' .. f.file
      -- one entry per tail region in its shard's queue (no app's pending bytes); the shard is due
      -- from now, or earlier
      for _, t in ipairs(tails) do
        local shard = fmt(t[1])
        local qk = tq_key(shard)
        local last = redis.call('LINDEX', qk, -1)
        if last and parse_entry(last).at > nowAt then redis.call('SADD', TSKEW, shard) end
        local entry = t[2] .. tail
        redis.call('RPUSH', qk, entry)
        redis.call('HINCRBY', TBYTES, shard, parse_entry(entry).len)
        redis.call('ZADD', TDUE, 'LT', nowText, shard)
      end
      for i, s in ipairs(f.sections) do
        local app = s[1]
        -- the queue was empty: this section is its head, the app is due from now (or earlier, by a claim)
        -- s[2] is the entry up to its keep and file: "index\\toff\\tlen\\trecords\\tstagedAt\\tminTs"
        if redis.call('RPUSH', pend_key(app), s[2] .. tail) == 1 then
          redis.call('ZADD', DUE, 'LT', nowText, app)
        end
        pending[app] = redis.call('HINCRBY', PENDB, app, s[3])
        if not seen[app] then
          seen[app] = true
          touched[#touched + 1] = app
        end
      end
    end
  end
end
local hot = {}
for _, app in ipairs(touched) do
  if pending[app] >= a.drainBytes then
    local sk = P .. 'sched:' .. app
    if num(redis.call('GET', sk)) <= now then
      if a.ttl > 0 then redis.call('SET', sk, fmt(now + a.ttl), 'PX', fmt(a.ttl)) end
      hot[#hot + 1] = app
    end
  end
end
return {results, hot}
`;

// ARGV: files... → 1/0 per file
const REGISTERED = LUA_PRELUDE + `
local out = {}
for i = 1, #ARGV do out[i] = redis.call('EXISTS', file_key(ARGV[i])) end
return out
`;

// ARGV: token, ttl, maxBytes, budget, maxRefs, order ("0,1,2"), scriptRefs, apps...
// → {apps looked at, {per claimed app {app, slot, inherited, claim, state...}}}: it stops after the
// app that brings the sections it claimed to scriptRefs (the caller goes on with the rest)
const ACQUIRE_DRAINS = LUA_PRELUDE + `
local token, ttl = ARGV[1], ARGV[2]
local maxBytes, budget, maxRefs = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local order = {}
for s in string.gmatch(ARGV[6], '[^,]+') do order[#order + 1] = s end
local scriptRefs, refs, looked = tonumber(ARGV[7]), 0, 0
local out = {}
for i = 8, #ARGV do
  if budget <= 0 or refs >= scriptRefs then break end
  looked = looked + 1
  local app = ARGV[i]
  local pk = pend_key(app)
  local queued = redis.call('LLEN', pk)
  local claimed = {}
  for _, s in ipairs(redis.call('HKEYS', claims_key(app))) do claimed[s] = true end
  -- the first free slot (in order) whose previous holder left a claim, else the first free slot
  local slot, withClaim = nil, false
  if next(claimed) ~= nil then
    for _, s in ipairs(order) do
      if claimed[s] and redis.call('EXISTS', lock_key(app, s)) == 0 then
        slot, withClaim = s, true
        break
      end
    end
  end
  if slot == nil and queued > 0 then
    for _, s in ipairs(order) do
      if redis.call('EXISTS', lock_key(app, s)) == 0 then
        slot = s
        break
      end
    end
  end
  -- the drain asked for came: split may ask again (even if every slot is busy now, so a busy
  -- hot app is not left waiting for the sweep)
  redis.call('DEL', P .. 'sched:' .. app)
  if slot ~= nil then
    take_lock(app, slot, token, ttl)
    local claim = {}
    if withClaim then claim = parse_claim(redis.call('HGET', slot_key(app, slot), 'claim')) end
    local inherited = #claim
    local bytes = 0
    for _, c in ipairs(claim) do bytes = bytes + c.len end
    if queued > 0 and #claim < maxRefs then
      local taken, takenBytes, nextHead = 0, 0, nil
      -- one more than can be taken: the queue's next head
      for _, raw in ipairs(redis.call('LRANGE', pk, 0, math.min(queued, maxRefs - #claim))) do
        local e = parse_entry(raw)
        if #claim >= maxRefs or (#claim > 0 and (bytes + e.len > maxBytes or bytes + e.len > budget)) then
          nextHead = e
          break
        end
        bytes = bytes + e.len
        takenBytes = takenBytes + e.len
        taken = taken + 1
        claim[#claim + 1] = e
      end
      queued = queued - taken
      if queued == 0 then redis.call('DEL', pk) else redis.call('LTRIM', pk, taken, -1) end
      if queued > 0 then redis.call('HINCRBY', PENDB, app, fmt(-takenBytes)) end
      -- the due score was min(old head, claim heads); the old head now heads this claim, so only
      -- the new head can lower it (when split's clocks disagree)
      if nextHead then redis.call('ZADD', DUE, 'LT', fmt(nextHead.at), app) end
    end
    if queued == 0 then redis.call('HDEL', PENDB, app) end
    budget = budget - bytes
    save_claim(app, slot, claim)
    local lines = {}
    for j = 1, #claim do lines[j] = claim[j].raw end
    refs = refs + #claim
    out[#out + 1] = {app, slot, inherited, table.concat(lines, '\\n'), view(app, slot)}
  end
end
return {looked, out}
`;

// ARGV: app, slot, token, ttl → state or false
const ACQUIRE_SLOT = LUA_PRELUDE + `
if not take_lock(ARGV[1], ARGV[2], ARGV[3], ARGV[4]) then return false end
return view(ARGV[1], ARGV[2])
`;

// ARGV: app, slot, token
// A lock with less than a millisecond left answers PTTL 0 yet still exists: it is given up now,
// so that "<= 0" always means the lock is free (as in the memory store).
const REMAINING = LUA_PRELUDE + `
if not holds(ARGV[1], ARGV[2], ARGV[3]) then return -1 end
local left = redis.call('PTTL', lock_key(ARGV[1], ARGV[2]))
if left <= 0 then redis.call('DEL', lock_key(ARGV[1], ARGV[2])) end
return left
`;

// ARGV: token, now, sealBytes, then 8 per commit: app, slot, gen, expectLen, addLen, refs ("\\n"-joined), release,
// startedAt (the member's oldest record's staging time: a new generation's t0, "0" = now)
// → per commit {'ok', state, gone} or {reason}
// Each staging file's sections are counted off once for the whole script (one HINCRBY per file,
// not per section: a wave's apps each consume one section of the same files), and a file is
// reported gone by the commit whose section was its last, as consume() one by one would.
const COMMIT_DRAINS = LUA_PRELUDE + `
local token, now, sealBytes = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
-- per file, the sequence numbers of its consumed sections; per sequence number, its commit's gone list
local files, uses, goneOf, seq = {}, {}, {}, 0
local function note(file, gone)
  seq = seq + 1
  goneOf[seq] = gone
  local u = uses[file]
  if u == nil then
    u = {}
    uses[file] = u
    files[#files + 1] = file
  end
  u[#u + 1] = seq
end
for i = 4, #ARGV, 8 do
  out[#out + 1] = commit_slot(token, ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
    ARGV[i + 6], tonumber(ARGV[i + 7]) or 0, now, sealBytes, ARGV[i + 5], note)
end
-- a file with r sections left and k consumed here goes with its r-th (count_off)
local last = {}
for _, file in ipairs(files) do
  local u = uses[file]
  local r = count_off(file, #u)
  if r then last[#last + 1] = {u[r], file} end
end
table.sort(last, function(x, y) return x[1] < y[1] end)
for _, g in ipairs(last) do
  local gone = goneOf[g[1]]
  gone[#gone + 1] = g[2]
end
return out
`;

// ARGV: token, app, slot, gen, len, now, refs... → false or {state, found, unknown, gone}
const ADOPT = LUA_PRELUDE + `
local token, app, slot = ARGV[1], ARGV[2], ARGV[3]
local gen, len, now = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
if not holds(app, slot, token) then return false end
local sk = slot_key(app, slot)
local st = redis.call('HMGET', sk, 'gen', 'len', 't0', 'claim')
local oldLen = num(st[2])
if num(st[1]) ~= gen or len < oldLen then return false end
local claim = parse_claim(st[4])
local pk = pend_key(app)
local queue = nil
local gone, unknown = {}, {}
local found = 0
for i = 7, #ARGV do
  local ref = ARGV[i]
  local tshard, tid = string.match(ref, '^tail:(%d+):([^:%s]+)$')
  if tshard then
    -- a member of a tail claim: found while it names the shard's claim and the app is not done in it
    tshard = fmt(tonumber(tshard))
    if tail_done(tshard, tid, app) then
      found = found + 1
      end_tail_claim(tshard, tid, gone)
    else
      unknown[#unknown + 1] = ref
    end
  else
    local ci = nil
    for j = 1, #claim do if claim[j].ref == ref then ci = j break end end
    local file = nil
    if ci then
      file = claim[ci].file
      table.remove(claim, ci)
    else
      if queue == nil then
        queue = {}
        for _, raw in ipairs(redis.call('LRANGE', pk, 0, -1)) do
          local e = parse_entry(raw)
          if queue[e.ref] == nil then queue[e.ref] = e end
        end
      end
      local e = queue[ref]
      if e then
        file = e.file
        queue[ref] = nil
        redis.call('LREM', pk, 1, e.raw)
        redis.call('HINCRBY', PENDB, app, fmt(-e.len))
      end
    end
    if file then
      found = found + 1
      consume(file, gone)
    else
      unknown[#unknown + 1] = ref
    end
  end
end
forget_empty_queue(app)
save_claim(app, slot, claim)
recompute_due(app)
local t0 = num(st[3])
if t0 == 0 and len > oldLen then t0 = now end
redis.call('HSET', sk, 'len', fmt(len), 't0', fmt(t0))
if t0 > 0 then redis.call('ZADD', SEALQ, 'NX', fmt(t0), sealq_member(app, slot)) end
return {view(app, slot), found, unknown, gone}
`;

// ARGV: shard, token, ttl, budget, maxEntries → false (lock busy, or nothing queued or claimed) or
// {id, lines, total ('0' until recorded), inherited (1/0), {app, slot number or 'd', ...}}: the shard's unfinished claim
// as it is, else a new claim of the queue's head entries (at least one, then while within budget
// and maxEntries)
const CLAIM_TAIL = LUA_PRELUDE + `
local shard, token, ttl = ARGV[1], ARGV[2], ARGV[3]
local budget, maxEntries = tonumber(ARGV[4]), math.max(1, tonumber(ARGV[5]) or 1)
local lk = tlock_key(shard)
if not redis.call('SET', lk, token, 'NX', 'PX', ttl) then return false end
local ck = tclaim_key(shard)
local h = redis.call('HGETALL', ck)
if #h > 0 then
  local id, lines, total, apps = '', '', '0', {}
  for i = 1, #h, 2 do
    local f, v = h[i], h[i + 1]
    if f == 'id' then id = v
    elseif f == 'lines' then lines = v
    elseif f == 'total' then total = v
    elseif string.sub(f, 1, 2) == 'a:' then
      apps[#apps + 1] = string.sub(f, 3)
      apps[#apps + 1] = v
    end
  end
  return {id, lines, total, 1, apps}
end
local qk = tq_key(shard)
local lines, bytes, oldest, full = {}, 0, nil, false
-- the queue's head, read CHUNK entries at a time (the budget usually ends the claim before maxEntries)
local CHUNK = 100
while not full and #lines < maxEntries do
  local from = #lines
  local want = math.min(CHUNK, maxEntries - from)
  local raws = redis.call('LRANGE', qk, from, from + want - 1)
  for _, raw in ipairs(raws) do
    local e = parse_entry(raw)
    if #lines > 0 and bytes + e.len > budget then
      full = true
      break
    end
    bytes = bytes + e.len
    lines[#lines + 1] = raw
    if oldest == nil or e.at < oldest then oldest = e.at end
  end
  if #raws < want then break end
end
if #lines == 0 then
  redis.call('DEL', lk)
  recompute_tail_due(shard)
  return false
end
redis.call('LTRIM', qk, #lines, -1)
-- the queue's bytes, for dueShards' minBytes; reset when the queue is empty (no drift outlives it)
if redis.call('LLEN', qk) == 0 or redis.call('HINCRBY', TBYTES, shard, -bytes) <= 0 then redis.call('HDEL', TBYTES, shard) end
-- the task's token names the claim: unique even across a Redis that forgot everything (a counter
-- restarting at 1 would let a repair take an old member for one of a new claim). No total until
-- the first placement records it.
local id = token
local text = table.concat(lines, '\\n')
redis.call('HSET', ck, 'id', id, 'lines', text, 'at', fmt(oldest), 'done', '0')
-- its entries moved from the queue to the claim: the shard's score, their oldest or an older queued
-- one, stays (LT: only a score lost somehow is put back)
redis.call('ZADD', TDUE, 'LT', fmt(oldest), shard)
return {id, text, '0', 0, {}}
`;

// ARGV: shard, token, id, total, ttl, order ("0,1,2"), apps... → {{app, slot, state}, ...}: each
// app of claim id not done gets the slot it was placed in before (if its lock is free), else the
// first free slot in order with no claimed sections (recorded as 'a:'..app); busy apps are left
// out. False unless token holds the shard's lock and id is its claim.
const PLACE_TAIL = LUA_PRELUDE + `
local shard, token, id, total, ttl = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), ARGV[5]
if redis.call('GET', tlock_key(shard)) ~= token then return false end
local ck = tclaim_key(shard)
if redis.call('HGET', ck, 'id') ~= id then return false end
-- the first placement records the claim's apps (0 too: a claim with nothing readable)
redis.call('HSETNX', ck, 'total', fmt(total))
local order = {}
for s in string.gmatch(ARGV[6], '[^,]+') do order[#order + 1] = s end
local out = {}
for i = 7, #ARGV do
  local app = ARGV[i]
  local placed = redis.call('HGET', ck, 'a:' .. app)
  local slot = nil
  if placed then
    -- an app placed before is only ever written through that slot
    if placed ~= 'd' and take_lock(app, placed, token, ttl) then slot = placed end
  else
    for _, s in ipairs(order) do
      if redis.call('EXISTS', lock_key(app, s)) == 0 and redis.call('HEXISTS', claims_key(app), s) == 0 then
        take_lock(app, s, token, ttl)
        redis.call('HSET', ck, 'a:' .. app, s)
        slot = s
        break
      end
    end
  end
  if slot then out[#out + 1] = {app, slot, view(app, slot)} end
end
return out
`;

// ARGV: token, shard, id, now, sealBytes, then 7 per commit: app, slot, gen, expectLen, addLen,
// release, startedAt → {per commit {'ok', state, gone} or {reason}, ended (1/0), gone}: each commit
// as COMMIT_DRAINS makes it (the slot's claim untouched), each ok one marks its app done in claim
// id; the claim ends when its last app is done (its entries' files counted off)
const COMMIT_TAIL = LUA_PRELUDE + `
local token, shard, id = ARGV[1], ARGV[2], ARGV[3]
local now, sealBytes = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for i = 6, #ARGV, 7 do
  local app = ARGV[i]
  local row = commit_slot(token, app, ARGV[i + 1], tonumber(ARGV[i + 2]), tonumber(ARGV[i + 3]), tonumber(ARGV[i + 4]),
    ARGV[i + 5], tonumber(ARGV[i + 6]) or 0, now, sealBytes, nil, nil)
  if row[1] == 'ok' then tail_done(shard, id, app) end
  out[#out + 1] = row
end
local gone = {}
local ended = 0
if end_tail_claim(shard, id, gone) then ended = 1 end
return {out, ended, gone}
`;

// ARGV: shard, token, id → {ended (1/0), gone}: claim id ends whatever its apps' progress, if token
// holds the shard's lock (END_TAIL's caller found every app it could read done)
const END_TAIL = LUA_PRELUDE + `
if redis.call('GET', tlock_key(ARGV[1])) ~= ARGV[2] then return {0, {}} end
local gone = {}
if end_tail_claim(ARGV[1], ARGV[3], gone, true) then return {1, gone} end
return {0, gone}
`;

// ARGV: shard, token. The claim, finished or not, stays with the shard (and so does its due score).
const RELEASE_TAIL = LUA_PRELUDE + `
local lk = tlock_key(ARGV[1])
if redis.call('GET', lk) == ARGV[2] then redis.call('DEL', lk) end
return 1
`;

// ARGV: app, slot, token, gen → 1/0
const SKIP_GENERATION = LUA_PRELUDE + `
local app, slot = ARGV[1], ARGV[2]
if not holds(app, slot, ARGV[3]) then return 0 end
local gen = num(redis.call('HGET', slot_key(app, slot), 'gen'))
if gen ~= tonumber(ARGV[4]) then return 0 end
bump_gen(app, slot, gen)
return 1
`;

// ARGV: app, slot, token, gen, key → 1/0
const BEGIN_SEAL = LUA_PRELUDE + `
local app, slot = ARGV[1], ARGV[2]
if not holds(app, slot, ARGV[3]) then return 0 end
local sk = slot_key(app, slot)
if num(redis.call('HGET', sk, 'gen')) ~= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', sk, 'sgen', fmt(tonumber(ARGV[4])), 'skey', ARGV[5])
return 1
`;

// ARGV: app, slot, token, gen, release (1: give the lock back after the bump, as RELEASE_SLOT) → 1/0
const FINISH_SEAL = LUA_PRELUDE + `
local app, slot = ARGV[1], ARGV[2]
if not holds(app, slot, ARGV[3]) then return 0 end
local sk = slot_key(app, slot)
local st = redis.call('HMGET', sk, 'gen', 'sgen', 'holder')
local gen = tonumber(ARGV[4])
if num(st[1]) ~= gen or st[2] == false or tonumber(st[2]) ~= gen then return 0 end
bump_gen(app, slot, gen)
if ARGV[5] == '1' then
  if st[3] == ARGV[3] then redis.call('HDEL', sk, 'holder') end
  redis.call('DEL', lock_key(app, slot))
end
return 1
`;

// ARGV: app, slot, token. The holder is done writing: forget it, then free the lock.
const RELEASE_SLOT = LUA_PRELUDE + `
local sk = slot_key(ARGV[1], ARGV[2])
if redis.call('HGET', sk, 'holder') == ARGV[3] then redis.call('HDEL', sk, 'holder') end
if holds(ARGV[1], ARGV[2], ARGV[3]) then redis.call('DEL', lock_key(ARGV[1], ARGV[2])) end
return 1
`;

// ARGV: topic/partition → {previous hw, new incarnation}
const RESET_PARTITION = LUA_PRELUDE + `
local pk = P .. 'part:' .. ARGV[1]
local h = redis.call('HMGET', pk, 'hw', 'inc')
local inc = num(h[2]) + 1
redis.call('HSET', pk, 'hw', '0', 'ranges', '', 'gaps', '', 'maxTs', '0', 'inc', fmt(inc))
return {h[1] or '0', fmt(inc)}
`;

// ARGV: name, token, ttl → 1/0 (the holder renews)
const ACQUIRE_LEASE = LUA_PRELUDE + `
local k = P .. 'lease:' .. ARGV[1]
local v = redis.call('GET', k)
if v and v ~= ARGV[2] then return 0 end
redis.call('SET', k, ARGV[2], 'PX', ARGV[3])
return 1
`;

// ARGV: name, token
const RELEASE_LEASE = LUA_PRELUDE + `
local k = P .. 'lease:' .. ARGV[1]
if redis.call('GET', k) == ARGV[2] then redis.call('DEL', k) end
return 1
`;

// ARGV: before, limit, minBytes ("" = no small-slot rule), forceBefore → "app\nslot" of slots with
// data whose generation started ≤ before or is full; with the rule, a slot holding < minBytes and
// no half-done seal waits until its generation started ≤ forceBefore.
const SEALABLE = LUA_PRELUDE + `
local limit, minBytes, force = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if minBytes == nil then return redis.call('ZRANGEBYSCORE', SEALQ, '-inf', ARGV[1], 'LIMIT', 0, limit) end
local out = {}
local rows = redis.call('ZRANGEBYSCORE', SEALQ, '-inf', ARGV[1], 'WITHSCORES')
for i = 1, #rows, 2 do
  if #out >= limit then break end
  local m, t0 = rows[i], tonumber(rows[i + 1])
  local ok = t0 <= force
  if not ok then
    local app, slot = string.match(m, '^(.*)\\n(%d+)$')
    if app == nil then ok = true else
      local st = redis.call('HMGET', slot_key(app, slot), 'len', 'sgen')
      ok = num(st[1]) >= minBytes or (st[2] ~= false and st[2] ~= '')
    end
  end
  if ok then out[#out + 1] = m end
end
return out
`;

// ARGV: name, now, everyMs → 1 when the job is due (and now marked as run), else 0. A missing or
// future mark (Redis lost or rolled back its state, or a clock jumped) makes the job due.
const CLAIM_PERIODIC = LUA_PRELUDE + `
local k = P .. 'every:' .. ARGV[1]
local now, every = tonumber(ARGV[2]), tonumber(ARGV[3])
local last = tonumber(redis.call('GET', k) or '')
if last ~= nil and last <= now and now - last < every then return 0 end
redis.call('SET', k, fmt(now))
return 1
`;

function parseSlotMember(m: string): { app: string; slot: number } {
  const nl = m.lastIndexOf("\n");
  return { app: m.slice(0, nl), slot: Number(m.slice(nl + 1)) };
}

type Arg = string | number;
type StateRow = [string, string, string, string, string, string];
/** A pipeline with the scripts as commands (ioredis defines them on pipelines too). */
type ScriptPipeline = ReturnType<Redis["pipeline"]> & { [K in keyof Scripts]: (...args: Parameters<Scripts[K]>) => ScriptPipeline };

interface Scripts {
  lpAdmit(tag: string, ...args: Arg[]): Promise<number[]>;
  lpDueApps(tag: string, ...args: Arg[]): Promise<string[]>;
  lpRegister(tag: string, json: string): Promise<[[string, string, string, string][], string[]]>;
  lpRegistered(tag: string, ...files: string[]): Promise<number[]>;
  lpAcquireDrains(tag: string, ...args: Arg[]): Promise<[number, [string, string, number, string, StateRow][]]>;
  lpAcquireSlot(tag: string, ...args: Arg[]): Promise<StateRow | null>;
  lpRemaining(tag: string, ...args: Arg[]): Promise<number>;
  lpCommitDrains(tag: string, ...args: Arg[]): Promise<([string] | ["ok", StateRow, string[]])[]>;
  lpAdopt(tag: string, ...args: Arg[]): Promise<[StateRow, number, string[], string[]] | null>;
  lpSkipGeneration(tag: string, ...args: Arg[]): Promise<number>;
  lpBeginSeal(tag: string, ...args: Arg[]): Promise<number>;
  lpFinishSeal(tag: string, ...args: Arg[]): Promise<number>;
  lpReleaseSlot(tag: string, ...args: Arg[]): Promise<number>;
  lpResetPartition(tag: string, partitionKey: string): Promise<[string, string]>;
  lpAcquireLease(tag: string, ...args: Arg[]): Promise<number>;
  lpReleaseLease(tag: string, ...args: Arg[]): Promise<number>;
  lpSealable(tag: string, ...args: Arg[]): Promise<string[]>;
  lpClaimPeriodic(tag: string, ...args: Arg[]): Promise<number>;
  lpClaimTail(tag: string, ...args: Arg[]): Promise<[string, string, string, number, string[]] | null>;
  lpPlaceTail(tag: string, ...args: Arg[]): Promise<[string, string, StateRow][] | null>;
  lpCommitTail(tag: string, ...args: Arg[]): Promise<[([string] | ["ok", StateRow, string[]])[], number, string[]]>;
  lpEndTail(tag: string, ...args: Arg[]): Promise<[number, string[]]>;
  lpReleaseTail(tag: string, ...args: Arg[]): Promise<number>;
}

// ARGV: stagedBefore, limit, minBytes ("" = no small-app rule), forceBefore, maxRefs ("" = none),
// waveBefore ("" = no waves), stepMinBytes ("" = not a step of the schedule), now and stepPeriod
// ("" = the step minimum is not scaled by the pending span). Due: oldest pending or claimed
// section staged ≤ stagedBefore; with the rule, a small app (< minBytes and < maxRefs sections
// pending, no stranded claim) waits until its oldest section is ≤ forceBefore — or ≤ waveBefore
// once any small app has reached forceBefore, or, at a step, until it has stepMinBytes pending
// per step period since its oldest section (at least one period). An app under minBytes with
// maxRefs sections pending (full) is due and starts a wave too, when `now` is given: every small
// app whose pending spans at least half of the full app's goes with it (the wave's cut-off is the
// later of waveBefore and the midpoint of the full app's oldest section and now).
const DUE_APPS = LUA_PRELUDE + `
local before, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local minBytes, force, maxRefs, wave = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5] or ''), tonumber(ARGV[6] or '')
local stepMin = tonumber(ARGV[7] or '')
local now, period = tonumber(ARGV[8] or ''), tonumber(ARGV[9] or '')
local rows = redis.call('ZRANGEBYSCORE', DUE, '-inf', ARGV[1], 'WITHSCORES')
local small, waving, cut = {}, false, wave
if minBytes ~= nil then
  -- every due app's pending bytes, CHUNK apps per HMGET (an hourly wave looks at thousands of
  -- apps; unpack's stack limit is ~8,000 values)
  local CHUNK = 1000
  local pends = {}
  for from = 1, #rows, 2 * CHUNK do
    local apps = {}
    for i = from, math.min(from + 2 * CHUNK - 1, #rows), 2 do apps[#apps + 1] = rows[i] end
    local got = redis.call('HMGET', PENDB, unpack(apps))
    for j = 1, #apps do pends[#pends + 1] = num(got[j]) end
  end
  for i = 1, #rows, 2 do
    local app, oldest = rows[i], tonumber(rows[i + 1])
    local pend = pends[(i + 1) / 2]
    if pend < minBytes and redis.call('HLEN', claims_key(app)) == 0 then
      if maxRefs == nil or redis.call('LLEN', pend_key(app)) < maxRefs then
        small[app] = pend
        if oldest <= force then waving = wave ~= nil end
      elseif wave ~= nil and now ~= nil then
        waving = true
        cut = math.max(cut, (oldest + now) / 2)
      end
    end
  end
end
local out = {}
for i = 1, #rows, 2 do
  if #out >= limit then break end
  local app, oldest = rows[i], tonumber(rows[i + 1])
  local pend = small[app]
  local spans = 1
  if stepMin ~= nil and now ~= nil and period ~= nil and period > 0 then spans = math.max(1, (now - oldest) / period) end
  if pend == nil or oldest <= force or (waving and oldest <= cut) or (stepMin ~= nil and pend >= stepMin * spans) then out[#out + 1] = app end
end
return out
`;

const SCRIPTS: Record<keyof Scripts, string> = {
  lpAdmit: ADMIT,
  lpDueApps: DUE_APPS,
  lpRegister: REGISTER,
  lpRegistered: REGISTERED,
  lpAcquireDrains: ACQUIRE_DRAINS,
  lpAcquireSlot: ACQUIRE_SLOT,
  lpRemaining: REMAINING,
  lpCommitDrains: COMMIT_DRAINS,
  lpAdopt: ADOPT,
  lpSkipGeneration: SKIP_GENERATION,
  lpBeginSeal: BEGIN_SEAL,
  lpFinishSeal: FINISH_SEAL,
  lpReleaseSlot: RELEASE_SLOT,
  lpResetPartition: RESET_PARTITION,
  lpAcquireLease: ACQUIRE_LEASE,
  lpReleaseLease: RELEASE_LEASE,
  lpSealable: SEALABLE,
  lpClaimPeriodic: CLAIM_PERIODIC,
  lpClaimTail: CLAIM_TAIL,
  lpPlaceTail: PLACE_TAIL,
  lpCommitTail: COMMIT_TAIL,
  lpEndTail: END_TAIL,
  lpReleaseTail: RELEASE_TAIL,
};

export interface RedisCoordStoreOptions {
  url: string;
  password?: string;
  /** Namespace for every key (default "lp"), so several pipelines can share one Redis. */
  keyPrefix?: string;
  redisOptions?: RedisOptions;
}

function stateFrom([gen, len, t0, sgen, skey, tainted]: StateRow): SlotState {
  const s: SlotState = { gen: Number(gen || 0), len: Number(len || 0), t0: Number(t0 || 0) };
  if (sgen) s.sealing = { gen: Number(sgen), key: skey };
  if (tainted) s.tainted = true;
  return s;
}

/** Parses a claim as the scripts store it: one `index\toff\tlen\trecords\tstagedAt\tminTs\tkeep\tfile` per line. */
function claimFrom(text: string): ClaimedSection[] {
  if (!text) return [];
  // line by line with indexOf, without an array of lines or of field ends per line: a wave task
  // claims ~1,500 sections, and what a claim's parse leaves lives until the task ends
  const out: ClaimedSection[] = [];
  for (let start = 0; start <= text.length; ) {
    let end = text.indexOf("\n", start);
    if (end === -1) end = text.length;
    out.push(claimLine(text, start, end));
    start = end + 1;
  }
  return out;
}

/** Where the 7 fields before a claim line's file end (as far as the line has tabs; then its end). */
const fieldEnds = new Int32Array(7);

/** One line of a claim, text[start, end): a missing field reads as undefined (NaN as a number), as a split line would give it. */
function claimLine(text: string, start: number, end: number): ClaimedSection {
  let n = 0;
  for (let at = text.indexOf("\t", start); at !== -1 && at < end && n < 7; at = text.indexOf("\t", at + 1)) fieldEnds[n++] = at;
  if (n < 7) fieldEnds[n++] = end;
  const file = n === 7 && fieldEnds[6]! < end ? text.slice(fieldEnds[6]! + 1, end) : "";
  return {
    ref: `${file}#${text.slice(start, fieldEnds[0])}`, file,
    off: numberField(text, n, 1), len: numberField(text, n, 2), records: numberField(text, n, 3),
    stagedAt: numberField(text, n, 4), minTs: numberField(text, n, 5),
    keep: decodeIntervals(n > 6 ? text.slice(fieldEnds[5]! + 1, fieldEnds[6]) : undefined),
  };
}

/** Number(field k) of the line whose `n` field ends are in fieldEnds (k >= 1), without slicing a plain decimal out. */
function numberField(text: string, n: number, k: number): number {
  if (k >= n) return NaN;
  const from = fieldEnds[k - 1]! + 1, to = fieldEnds[k]!;
  const neg = text.charCodeAt(from) === 45; // "-"
  if (to - from > 15 || (neg && to - from === 1)) return Number(text.slice(from, to));
  let v = 0;
  for (let i = neg ? from + 1 : from; i < to; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return Number(text.slice(from, to));
    v = v * 10 + c;
  }
  return neg ? -v : v;
}

/** Names stored one per line inside a Redis value: a line break would split them. */
const isName = (name: string): boolean => name.length > 0 && !/[\n\r]/.test(name);
/** Offsets, lengths and timestamps are stored as decimal integers. */
const isInteger = (value: number, min = 0): boolean => Number.isSafeInteger(value) && value >= min;

function checkName(kind: string, name: string): void {
  if (!isName(name)) throw new Error(`coord store: ${kind} ${JSON.stringify(name)} must be non-empty and on one line`);
}

function checkInteger(field: string, value: number, min = 0): void {
  if (!isInteger(value, min)) throw new Error(`coord store: ${field} must be an integer >= ${min}, got ${value}`);
}

/**
 * A registration's fields. A section's are tested first and named only when one is bad: a batch
 * has ~1,500 sections at 3,000 apps, and a label (or a closure making one) per field was garbage.
 */
function checkFile(f: RegisterFile): void {
  checkName("staging file id", f.file);
  checkInteger(`${f.file}: partition`, f.partition);
  checkInteger(`${f.file}: first`, f.first);
  checkInteger(`${f.file}: last`, f.last);
  for (let i = 0; i < f.sections.length; i++) {
    const s = f.sections[i]!;
    if (isName(s.app) && isRange(s)) continue;
    checkName(`${f.file}: sections[${i}].app`, s.app);
    checkRange(`${f.file}: sections[${i}]`, s);
  }
  const tails = f.tails ?? [];
  for (let i = 0; i < tails.length; i++) {
    checkInteger(`${f.file}: tails[${i}].shard`, tails[i]!.shard);
    checkRange(`${f.file}: tails[${i}]`, tails[i]!);
  }
}

type StagedRange = Pick<RegisterFile["sections"][number], "off" | "len" | "records" | "minTs">;
const isRange = (r: StagedRange): boolean => isInteger(r.off) && isInteger(r.len) && isInteger(r.records) && isInteger(r.minTs, -1);
/** A section's or tail region's byte range, records and oldest timestamp, each named when bad. */
function checkRange(at: string, r: StagedRange): void {
  checkInteger(`${at}.off`, r.off);
  checkInteger(`${at}.len`, r.len);
  checkInteger(`${at}.records`, r.records);
  checkInteger(`${at}.minTs`, r.minTs, -1);
}

/**
 * Bounds on one drain script's work. Lua runs alone on Redis (~25 µs per section claimed or
 * committed, measured: `INFO commandstats` in a `logpipe local --apps 3000` run), so a script of
 * 64 apps × ~20 sections holds it for ~30 ms, not a 500-app wave's ~300 ms; the extra round trips
 * are a few per wave task.
 */
export const DRAIN_SCRIPT_APPS = 64;
export const DRAIN_SCRIPT_REFS = 1500;
/** Apps per placeTail script (a placement is a few commands per app, no sections). */
export const TAIL_PLACE_APPS = 500;

/** `items` in order, cut into runs whose summed weight stays within `limit` (an item heavier than it runs alone). */
export function chunksOf<T>(items: readonly T[], limit: number, weight: (item: T) => number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let sum = 0;
  for (const item of items) {
    const w = weight(item);
    if (cur.length > 0 && sum + w > limit) {
      out.push(cur);
      cur = [];
      sum = 0;
    }
    cur.push(item);
    sum += w;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

export class RedisCoordStore implements CoordStore {
  readonly redis: Redis & Scripts;
  /** The hash tag every key starts with: `{ns}` */
  readonly tag: string;
  /** Round trips made (for the benchmark: they should grow with batches and drains, not apps or records). */
  roundTrips = 0;

  constructor(opts: RedisCoordStoreOptions) {
    this.tag = `{${opts.keyPrefix ?? "lp"}}`;
    this.redis = new Redis(opts.url, {
      password: opts.password,
      maxRetriesPerRequest: 3,
      enableAutoPipelining: true,
      lazyConnect: false,
      ...opts.redisOptions,
    }) as Redis & Scripts;
    this.redis.on("error", () => {}); // surfaced through the failing command instead of an unhandled event
    for (const [name, lua] of Object.entries(SCRIPTS)) this.redis.defineCommand(name, { lua, numberOfKeys: 1 });
  }

  private key(...parts: (string | number)[]) { return [this.tag, ...parts].join(":"); }

  async admitApps(apps: string[], cap: number, now: number, ttlMs: number): Promise<Map<string, boolean>> {
    const out = new Map<string, boolean>();
    if (apps.length === 0) return out;
    this.roundTrips++;
    const r = await this.redis.lpAdmit(this.tag, cap, now, ttlMs, ...apps);
    apps.forEach((app, i) => out.set(app, r[i] === 1));
    return out;
  }

  async registerFiles(files: RegisterFile[], opts: RegisterOptions): Promise<{ results: RegisterResult[]; hot: string[] }> {
    if (files.length === 0) return { results: [], hot: [] };
    files.forEach(checkFile);
    const nowText = Math.round(opts.now).toFixed(0); // as the scripts' fmt() writes a time
    const payload = {
      now: opts.now, drainBytes: opts.drainBytes, ttl: opts.scheduleTtlMs, maxRanges: opts.maxRanges, maxGaps: opts.maxGaps,
      files: files.map((f) => ({
        file: f.file, topic: f.topic, partition: f.partition, first: f.first, last: f.last, minTs: f.minTs, maxTs: f.maxTs,
        // each section's pending entry up to its keep and file, made here rather than in Lua, which
        // runs alone on Redis (~1,500 sections per batch at 3,000 apps)
        sections: f.sections.map((s, i) => [s.app, `${i}\t${s.off}\t${s.len}\t${s.records}\t${nowText}\t${s.minTs}`, s.len]),
        // each tail region's queue entry likewise, its index t<shard>
        ...(f.tails?.length ? { tails: f.tails.map((t) => [t.shard, `t${t.shard}\t${t.off}\t${t.len}\t${t.records}\t${nowText}\t${t.minTs}`]) } : {}),
      })),
    };
    this.roundTrips++;
    const [rows, hot] = await this.redis.lpRegister(this.tag, JSON.stringify(payload));
    const results = rows.map(([status, keep, previousHw, incarnation], i): RegisterResult => {
      const r: RegisterResult = { file: files[i]!.file, status: status as RegisterResult["status"], keep: decodeIntervals(keep) };
      if (previousHw !== "") r.reset = { previousHw: Number(previousHw), incarnation: Number(incarnation) };
      return r;
    });
    return { results, hot };
  }

  async registeredFiles(files: string[]): Promise<Set<string>> {
    if (files.length === 0) return new Set();
    this.roundTrips++;
    const r = await this.redis.lpRegistered(this.tag, ...files);
    return new Set(files.filter((_, i) => r[i] === 1));
  }

  /**
   * In scripts of at most DRAIN_SCRIPT_APPS apps and about DRAIN_SCRIPT_REFS claimed sections
   * each (a script stops after the app that reaches it), one after the other, with the budget the
   * earlier ones left: a script blocks Redis while it runs, and a wave task's 500 apps in one
   * script held it for ~300 ms, which every split registering a batch meanwhile waited out.
   */
  async acquireDrains(apps: string[], o: { order: number[]; token: string; ttlMs: number; maxBytes: number; budget: number; maxRefs: number; now: number }): Promise<DrainClaim[]> {
    if (apps.length === 0 || o.order.length === 0) return [];
    const out: DrainClaim[] = [];
    let budget = o.budget;
    for (let next = 0; next < apps.length && budget > 0;) {
      const part = apps.slice(next, next + DRAIN_SCRIPT_APPS);
      this.roundTrips++;
      const [looked, rows] = await this.redis.lpAcquireDrains(this.tag, o.token, o.ttlMs, o.maxBytes, budget, o.maxRefs, o.order.join(","), DRAIN_SCRIPT_REFS, ...part);
      next += Math.max(1, Number(looked));
      for (const [app, slot, inherited, claim, state] of rows) {
        const sections = claimFrom(claim);
        for (const s of sections) budget -= s.len;
        out.push({ app, slot: Number(slot), state: stateFrom(state), sections, inherited: Number(inherited) });
      }
    }
    return out;
  }

  async acquireSlot(app: string, slot: number, token: string, ttlMs: number): Promise<SlotState | null> {
    this.roundTrips++;
    const r = await this.redis.lpAcquireSlot(this.tag, app, slot, token, ttlMs);
    return r ? stateFrom(r) : null;
  }

  acquireSlots(slots: readonly { app: string; slot: number }[], token: string, ttlMs: number): Promise<(SlotState | null)[]> {
    return this.pipelined(slots, (pipe, { app, slot }) => pipe.lpAcquireSlot(this.tag, app, slot, token, ttlMs), (r) => (r ? stateFrom(r as StateRow) : null));
  }

  async lockRemainingMs(app: string, slot: number, token: string): Promise<number> {
    this.roundTrips++;
    return Number(await this.redis.lpRemaining(this.tag, app, slot, token));
  }

  async commitDrains(token: string, commits: DrainCommit[], now: number, sealBytes = Number.MAX_SAFE_INTEGER): Promise<DrainCommitResult[]> {
    if (commits.length === 0) return [];
    // each commit stands alone (its own lock and slot), so scripts of DRAIN_SCRIPT_REFS refs each
    // keep Redis free for others between them (see acquireDrains)
    const out: DrainCommitResult[] = [];
    for (const part of chunksOf(commits, DRAIN_SCRIPT_REFS, (c) => Math.max(1, c.refs.length))) {
      const args: Arg[] = [token, now, sealBytes];
      for (const c of part) args.push(c.app, c.slot, c.gen, c.expectLen, c.addLen, c.refs.join("\n"), c.release ? "1" : "0", c.startedAt ?? 0);
      this.roundTrips++;
      const rows = await this.redis.lpCommitDrains(this.tag, ...args);
      rows.forEach((r, i) => {
        const app = part[i]!.app;
        if (r[0] === "ok") out.push({ app, ok: true, state: stateFrom(r[1] as StateRow), gone: r[2] as string[] });
        else out.push({ app, ok: false, reason: r[0] as "lost-lock" | "stale-state" });
      });
    }
    return out;
  }

  async claimTail(shard: number, o: { token: string; ttlMs: number; budget: number; maxEntries: number; now: number }): Promise<TailClaim | null> {
    this.roundTrips++;
    const r = await this.redis.lpClaimTail(this.tag, shard, o.token, o.ttlMs, o.budget, o.maxEntries);
    if (!r) return null;
    const [id, lines, total, inherited, placed] = r;
    const apps = new Map<string, number | "done">();
    for (let i = 0; i + 1 < placed.length; i += 2) apps.set(placed[i]!, placed[i + 1] === "d" ? "done" : Number(placed[i + 1]));
    return { shard, id, entries: claimFrom(lines), apps, total: Number(total), inherited: Number(inherited) === 1 };
  }

  /** In scripts of at most TAIL_PLACE_APPS apps each, one after the other (at least one: it records `total`). */
  async placeTail(shard: number, token: string, id: string, total: number, apps: string[], o: { order: number[]; ttlMs: number }): Promise<TailPlacement[]> {
    const out: TailPlacement[] = [];
    for (let i = 0; i === 0 || i < apps.length; i += TAIL_PLACE_APPS) {
      this.roundTrips++;
      const rows = await this.redis.lpPlaceTail(this.tag, shard, token, id, total, o.ttlMs, o.order.join(","), ...apps.slice(i, i + TAIL_PLACE_APPS));
      if (!rows) break; // the shard's lock or the claim was lost: the later scripts would place nothing either
      for (const [app, slot, state] of rows) out.push({ app, slot: Number(slot), state: stateFrom(state) });
    }
    return out;
  }

  /** In scripts of at most DRAIN_SCRIPT_APPS commits each (as commitDrains; at least one: it may end the claim). */
  async commitTail(token: string, shard: number, id: string, commits: DrainCommit[], now: number, sealBytes = Number.MAX_SAFE_INTEGER): Promise<TailCommitResult> {
    const results: DrainCommitResult[] = [];
    const gone: string[] = [];
    let ended = false;
    for (let i = 0; i === 0 || i < commits.length; i += DRAIN_SCRIPT_APPS) {
      const part = commits.slice(i, i + DRAIN_SCRIPT_APPS);
      const args: Arg[] = [token, shard, id, now, sealBytes];
      for (const c of part) args.push(c.app, c.slot, c.gen, c.expectLen, c.addLen, c.release ? "1" : "0", c.startedAt ?? 0);
      this.roundTrips++;
      const [rows, end, files] = await this.redis.lpCommitTail(this.tag, ...args);
      rows.forEach((r, j) => {
        const app = part[j]!.app;
        if (r[0] === "ok") results.push({ app, ok: true, state: stateFrom(r[1] as StateRow), gone: r[2] as string[] });
        else results.push({ app, ok: false, reason: r[0] as "lost-lock" | "stale-state" });
      });
      if (Number(end) === 1) ended = true;
      gone.push(...files);
    }
    return { results, ended, gone };
  }

  async endTail(shard: number, token: string, id: string): Promise<{ ended: boolean; gone: string[] }> {
    this.roundTrips++;
    const [ended, gone] = await this.redis.lpEndTail(this.tag, shard, token, id);
    return { ended: Number(ended) === 1, gone };
  }

  async releaseTail(shard: number, token: string): Promise<void> {
    this.roundTrips++;
    await this.redis.lpReleaseTail(this.tag, shard, token);
  }

  async dueShards(stagedBefore: number, limit: number, opts: { minBytes?: number } = {}): Promise<number[]> {
    if (limit <= 0) return [];
    this.roundTrips++;
    const minBytes = opts.minBytes ?? 0;
    const byAge = this.redis.pipeline().zrangebyscore(this.key("tdue"), "-inf", stagedBefore, "LIMIT", 0, limit);
    // with minBytes, the queued bytes too, in the same round trip
    const replies = (await (minBytes > 0 ? byAge.hgetall(this.key("tbytes")) : byAge).exec()) ?? [];
    for (const [err] of replies) if (err) throw err;
    const queued = Object.entries((replies[1]?.[1] ?? {}) as Record<string, string>).map(([shard, b]): [number, number] => [Number(shard), Number(b)]);
    return withFullShards((replies[0]![1] as string[]).map(Number), queued, minBytes, limit);
  }

  async adopt(token: string, req: AdoptRequest): Promise<AdoptResult | null> {
    this.roundTrips++;
    const r = await this.redis.lpAdopt(this.tag, token, req.app, req.slot, req.gen, req.len, req.now, ...req.refs);
    if (!r) return null;
    const [state, found, unknown, gone] = r;
    return { state: stateFrom(state), found: Number(found), unknown, gone };
  }

  async skipGeneration(app: string, slot: number, token: string, gen: number): Promise<boolean> {
    this.roundTrips++;
    return (await this.redis.lpSkipGeneration(this.tag, app, slot, token, gen)) === 1;
  }

  async beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean> {
    return (await this.beginSeals(token, [{ app, slot, gen, key }]))[0]!;
  }

  async finishSeal(app: string, slot: number, token: string, gen: number, opts: { release?: boolean } = {}): Promise<boolean> {
    return (await this.finishSeals(token, [{ app, slot, gen }], opts))[0]!;
  }

  async beginSeals(token: string, seals: readonly SealRecord[]): Promise<boolean[]> {
    return this.scriptPerItem(seals, (pipe, s) => pipe.lpBeginSeal(this.tag, s.app, s.slot, token, s.gen, s.key));
  }

  async finishSeals(token: string, seals: readonly Omit<SealRecord, "key">[], opts: { release?: boolean } = {}): Promise<boolean[]> {
    return this.scriptPerItem(seals, (pipe, s) => pipe.lpFinishSeal(this.tag, s.app, s.slot, token, s.gen, opts.release ? 1 : 0));
  }

  /**
   * One script call per item, pipelined: a round trip per 2,000 items, and each slot's script
   * still runs on its own (Redis is free for others between them). Whether each returned 1.
   */
  private scriptPerItem<T>(items: readonly T[], call: (pipe: ScriptPipeline, item: T) => unknown): Promise<boolean[]> {
    return this.pipelined(items, call, (r) => r === 1);
  }

  /**
   * One command per item, pipelined: a round trip per 2,000 items (no single reply the size of
   * the keyspace); each reply through `reply`, in order.
   */
  private async pipelined<T, R>(items: readonly T[], call: (pipe: ScriptPipeline, item: T) => unknown, reply: (r: unknown) => R): Promise<R[]> {
    const out: R[] = [];
    for (let i = 0; i < items.length; i += 2000) {
      const pipe = this.redis.pipeline() as unknown as ScriptPipeline;
      for (const item of items.slice(i, i + 2000)) call(pipe, item);
      this.roundTrips++;
      for (const [err, r] of (await pipe.exec()) ?? []) {
        if (err) throw err;
        out.push(reply(r));
      }
    }
    return out;
  }

  async release(app: string, slot: number, token: string): Promise<void> {
    this.roundTrips++;
    await this.redis.lpReleaseSlot(this.tag, app, slot, token);
  }

  async readSlotState(app: string, slot: number): Promise<SlotState> {
    return (await this.readSlotStates([{ app, slot }]))[0]!;
  }

  readSlotStates(slots: readonly { app: string; slot: number }[]): Promise<SlotState[]> {
    return this.pipelined(slots, (pipe, { app, slot }) => pipe.hmget(this.key("slot", app, slot), "gen", "len", "t0", "sgen", "skey", "tainted"),
      (row) => stateFrom((row as (string | null)[]).map((v) => v ?? "") as StateRow));
  }

  async sealableSlots(before: number, limit: number, small?: { minBytes: number; forceBefore: number }): Promise<{ app: string; slot: number }[]> {
    this.roundTrips++;
    const rule = small && small.minBytes > 0 ? [String(small.minBytes), String(small.forceBefore)] : ["", ""];
    return (await this.redis.lpSealable(this.tag, before, limit, ...rule)).map(parseSlotMember);
  }

  async claimPeriodics(marks: readonly PeriodicMark[]): Promise<boolean[]> {
    if (marks.length === 0) return [];
    return this.scriptPerItem(marks, (pipe, m) => pipe.lpClaimPeriodic(this.tag, m.name, m.now, m.everyMs));
  }

  async dueApps(stagedBefore: number, limit: number, small?: SmallAppRule): Promise<string[]> {
    if (limit <= 0) return [];
    this.roundTrips++;
    if (!small) return this.redis.zrangebyscore(this.key("due"), "-inf", stagedBefore, "LIMIT", 0, limit);
    const opt = (n: number | undefined) => (n === undefined ? "" : String(n));
    return this.redis.lpDueApps(this.tag, String(stagedBefore), limit, String(small.minBytes), String(small.forceBefore), opt(small.maxRefs), opt(small.waveBefore), opt(small.stepMinBytes), opt(small.now), opt(small.stepPeriodMs));
  }

  async resetPartition(topic: string, partition: number): Promise<{ hw: number; incarnation: number }> {
    this.roundTrips++;
    const [hw, incarnation] = await this.redis.lpResetPartition(this.tag, `${topic}/${partition}`);
    return { hw: Number(hw), incarnation: Number(incarnation) };
  }

  async readPartition(topic: string, partition: number): Promise<{ hw: number; ranges: Interval[]; gaps: Interval[]; maxTs: number; incarnation: number }> {
    this.roundTrips++;
    const [hw, ranges, gaps, maxTs, inc] = await this.redis.hmget(this.key("part", `${topic}/${partition}`), "hw", "ranges", "gaps", "maxTs", "inc");
    return { hw: Number(hw ?? 0), ranges: decodeIntervals(ranges), gaps: decodeIntervals(gaps), maxTs: Number(maxTs ?? 0), incarnation: Number(inc ?? 0) };
  }

  async acquireLease(name: string, token: string, ttlMs: number): Promise<boolean> {
    this.roundTrips++;
    return (await this.redis.lpAcquireLease(this.tag, name, token, ttlMs)) === 1;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    this.roundTrips++;
    await this.redis.lpReleaseLease(this.tag, name, token);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
