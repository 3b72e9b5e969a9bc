/**
 * CoordStore on Redis (ioredis). Every key of an app carries the hash tag `{app}` so one Lua
 * script touches one cluster slot; each operation is one round trip.
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Interval } from "../core/intervals.js";
import { decodeIntervals, encodeIntervals } from "../core/intervals.js";
import type { AcquiredSlot, CommitRequest, CommitResult, CoordStore, SlotState } from "./coord-store.js";

// Shared Lua: parse "a-b,c-d" into a list of {a, b}; merge a sorted list.
const LUA_INTERVALS = `
local function parse(s)
  local out = {}
  if s and s ~= '' then
    for a, b in string.gmatch(s, '(%d+)-(%d+)') do out[#out + 1] = {tonumber(a), tonumber(b)} end
  end
  return out
end
local function encode(list)
  local parts = {}
  for i = 1, #list do parts[i] = string.format('%.0f-%.0f', list[i][1], list[i][2]) end
  return table.concat(parts, ',')
end
local function overlaps(x, y)
  local i, j = 1, 1
  while i <= #x and j <= #y do
    if x[i][2] < y[j][1] then i = i + 1
    elseif y[j][2] < x[i][1] then j = j + 1
    else return true end
  end
  return false
end
local function union(x, y)
  local all = {}
  for i = 1, #x do all[#all + 1] = x[i] end
  for i = 1, #y do all[#all + 1] = y[i] end
  table.sort(all, function(p, q) return p[1] < q[1] end)
  local out = {}
  for i = 1, #all do
    local last = out[#out]
    if last and all[i][1] <= last[2] + 1 then
      if all[i][2] > last[2] then last[2] = all[i][2] end
    else
      out[#out + 1] = {all[i][1], all[i][2]}
    end
  end
  return out
end
`;

// KEYS: lock_1..lock_n, state_1..state_n, offsets. ARGV: token, ttl, n, field
// The state's 'holder' names the last lock holder until it releases. Taking a lock while a
// holder is still recorded (its lock expired: crashed, or frozen and possibly still writing)
// taints the generation: see SlotState.tainted.
const ACQUIRE = `
local n = tonumber(ARGV[3])
for i = 1, n do
  if redis.call('SET', KEYS[i], ARGV[1], 'NX', 'PX', ARGV[2]) then
    if redis.call('HEXISTS', KEYS[n + i], 'holder') == 1 then redis.call('HSET', KEYS[n + i], 'tainted', '1') end
    redis.call('HSET', KEYS[n + i], 'holder', ARGV[1])
    local st = redis.call('HMGET', KEYS[n + i], 'gen', 'len', 't0', 'sgen', 'skey', 'tainted')
    local off = ''
    if ARGV[4] ~= '' then off = redis.call('HGET', KEYS[2 * n + 1], ARGV[4]) or '' end
    return {i, st[1] or '0', st[2] or '0', st[3] or '0', st[4] or '', st[5] or '', off, st[6] or ''}
  end
end
return false
`;

// KEYS: lock, state, offsets. ARGV: token, gen, expectLen, addLen, now, field, claim, maxIntervals, release
// (release = '1': on success also do what RELEASE_SLOT does)
const COMMIT = LUA_INTERVALS + `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {'lost-lock'} end
local st = redis.call('HMGET', KEYS[2], 'gen', 'len', 't0', 'sgen')
local gen = tonumber(st[1] or '0')
local len = tonumber(st[2] or '0')
if gen ~= tonumber(ARGV[2]) or len ~= tonumber(ARGV[3]) or st[4] then return {'stale-state'} end
if ARGV[6] ~= '' and ARGV[7] ~= '' then
  local cur = redis.call('HGET', KEYS[3], ARGV[6]) or ''
  local have = parse(cur)
  local claim = parse(ARGV[7])
  if overlaps(have, claim) then return {'conflict', cur} end
  local merged = union(have, claim)
  local max = tonumber(ARGV[8])
  if #merged > max then
    local kept = {}
    for i = #merged - max + 1, #merged do kept[#kept + 1] = merged[i] end
    merged = kept
  end
  redis.call('HSET', KEYS[3], ARGV[6], encode(merged))
end
local add = tonumber(ARGV[4])
local t0 = tonumber(st[3] or '0')
if t0 == 0 and add > 0 then t0 = tonumber(ARGV[5]) end
local newlen = len + add
redis.call('HSET', KEYS[2], 'gen', string.format('%.0f', gen), 'len', string.format('%.0f', newlen), 't0', string.format('%.0f', t0))
if ARGV[9] == '1' then
  if redis.call('HGET', KEYS[2], 'holder') == ARGV[1] then redis.call('HDEL', KEYS[2], 'holder') end
  redis.call('DEL', KEYS[1])
end
return {'ok', string.format('%.0f', gen), string.format('%.0f', newlen), string.format('%.0f', t0)}
`;

// KEYS: lock, state. ARGV: token, gen, key
const BEGIN_SEAL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local gen = tonumber(redis.call('HGET', KEYS[2], 'gen') or '0')
if gen ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[2], 'sgen', ARGV[2], 'skey', ARGV[3])
return 1
`;

// KEYS: lock, state. ARGV: token, gen
const FINISH_SEAL = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local st = redis.call('HMGET', KEYS[2], 'gen', 'sgen')
if tonumber(st[1] or '0') ~= tonumber(ARGV[2]) or st[2] ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[2], 'gen', string.format('%.0f', tonumber(ARGV[2]) + 1), 'len', '0', 't0', '0')
redis.call('HDEL', KEYS[2], 'sgen', 'skey', 'tainted')
return 1
`;

// KEYS: lock, state. ARGV: token. The holder is done writing: forget it, then free the lock.
const RELEASE_SLOT = `
if redis.call('HGET', KEYS[2], 'holder') == ARGV[1] then redis.call('HDEL', KEYS[2], 'holder') end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const RELEASE = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

const REMAINING = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PTTL', KEYS[1]) end
return -1
`;

// KEYS: registry. ARGV: cap, apps...
const ADMIT = `
local cap = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 1 then
    out[#out + 1] = ARGV[i]
  elseif redis.call('SCARD', KEYS[1]) < cap then
    redis.call('SADD', KEYS[1], ARGV[i])
    out[#out + 1] = ARGV[i]
  end
end
return out
`;

interface Scripts {
  lpAcquire(...args: (string | number)[]): Promise<[number, string, string, string, string, string, string, string] | null>;
  lpReleaseSlot(...args: (string | number)[]): Promise<number>;
  lpCommit(...args: (string | number)[]): Promise<string[]>;
  lpBeginSeal(...args: (string | number)[]): Promise<number>;
  lpFinishSeal(...args: (string | number)[]): Promise<number>;
  lpRelease(...args: (string | number)[]): Promise<number>;
  lpRemaining(...args: (string | number)[]): Promise<number>;
  lpAdmit(...args: (string | number)[]): Promise<string[]>;
}

export interface RedisCoordStoreOptions {
  url: string;
  password?: string;
  /** Namespace for every key (default "lp"), so several pipelines can share one Redis. */
  keyPrefix?: string;
  redisOptions?: RedisOptions;
}

function stateFrom(gen: string, len: string, t0: string, sgen?: string, skey?: string, tainted?: string): SlotState {
  const s: SlotState = { gen: Number(gen || 0), len: Number(len || 0), t0: Number(t0 || 0) };
  if (sgen) s.sealing = { gen: Number(sgen), key: skey ?? "" };
  if (tainted) s.tainted = true;
  return s;
}

export class RedisCoordStore implements CoordStore {
  readonly redis: Redis & Scripts;
  private readonly ns: string;
  /** Round trips made (for the benchmark: they should grow with apps, not records). */
  roundTrips = 0;

  constructor(opts: RedisCoordStoreOptions) {
    this.ns = opts.keyPrefix ?? "lp";
    this.redis = new Redis(opts.url, {
      password: opts.password,
      maxRetriesPerRequest: 3,
      enableAutoPipelining: true,
      lazyConnect: false,
      ...opts.redisOptions,
    }) as Redis & Scripts;
    this.redis.on("error", () => {}); // surfaced through the failing command instead of an unhandled event
    this.redis.defineCommand("lpAcquire", { lua: ACQUIRE });
    this.redis.defineCommand("lpCommit", { lua: COMMIT, numberOfKeys: 3 });
    this.redis.defineCommand("lpBeginSeal", { lua: BEGIN_SEAL, numberOfKeys: 2 });
    this.redis.defineCommand("lpFinishSeal", { lua: FINISH_SEAL, numberOfKeys: 2 });
    this.redis.defineCommand("lpRelease", { lua: RELEASE, numberOfKeys: 1 });
    this.redis.defineCommand("lpReleaseSlot", { lua: RELEASE_SLOT, numberOfKeys: 2 });
    this.redis.defineCommand("lpRemaining", { lua: REMAINING, numberOfKeys: 1 });
    this.redis.defineCommand("lpAdmit", { lua: ADMIT, numberOfKeys: 1 });
  }

  private lockKey(app: string, slot: number) { return `${this.ns}:{${app}}:lock:${slot}`; }
  private stateKey(app: string, slot: number) { return `${this.ns}:{${app}}:slot:${slot}`; }
  private offsetsKey(app: string) { return `${this.ns}:{${app}}:offsets`; }

  async admitApps(apps: string[], cap: number): Promise<Set<string>> {
    if (apps.length === 0) return new Set();
    this.roundTrips++;
    const admitted = await this.redis.lpAdmit(`${this.ns}:apps`, cap, ...apps);
    return new Set(admitted);
  }

  async tryAcquireSlot(app: string, order: number[], token: string, ttlMs: number, offsetsField: string): Promise<AcquiredSlot | null> {
    const n = order.length;
    const keys = [...order.map((s) => this.lockKey(app, s)), ...order.map((s) => this.stateKey(app, s)), this.offsetsKey(app)];
    this.roundTrips++;
    const r = await this.redis.lpAcquire(keys.length, ...keys, token, ttlMs, n, offsetsField);
    if (!r) return null;
    const [i, gen, len, t0, sgen, skey, off, tainted] = r;
    return { slot: order[i - 1]!, token, state: stateFrom(gen, len, t0, sgen, skey, tainted), committed: decodeIntervals(off) };
  }

  async lockRemainingMs(app: string, slot: number, token: string): Promise<number> {
    this.roundTrips++;
    return Number(await this.redis.lpRemaining(this.lockKey(app, slot), token));
  }

  async commit(app: string, slot: number, token: string, req: CommitRequest): Promise<CommitResult> {
    this.roundTrips++;
    const r = await this.redis.lpCommit(
      this.lockKey(app, slot), this.stateKey(app, slot), this.offsetsKey(app),
      token, req.gen, req.expectLen, req.addLen, req.now, req.offsetsField, encodeIntervals(req.claim), req.maxIntervals, req.release ? "1" : "0",
    );
    if (r[0] === "ok") return { ok: true, state: stateFrom(r[1]!, r[2]!, r[3]!) };
    if (r[0] === "conflict") return { ok: false, reason: "conflict", committed: decodeIntervals(r[1]) };
    return { ok: false, reason: r[0] as "lost-lock" | "stale-state" };
  }

  async beginSeal(app: string, slot: number, token: string, gen: number, key: string): Promise<boolean> {
    this.roundTrips++;
    return (await this.redis.lpBeginSeal(this.lockKey(app, slot), this.stateKey(app, slot), token, gen, key)) === 1;
  }

  async finishSeal(app: string, slot: number, token: string, gen: number): Promise<boolean> {
    this.roundTrips++;
    return (await this.redis.lpFinishSeal(this.lockKey(app, slot), this.stateKey(app, slot), token, gen)) === 1;
  }

  async release(app: string, slot: number, token: string): Promise<void> {
    this.roundTrips++;
    await this.redis.lpReleaseSlot(this.lockKey(app, slot), this.stateKey(app, slot), token);
  }

  async readSlotState(app: string, slot: number): Promise<SlotState> {
    this.roundTrips++;
    const [gen, len, t0, sgen, skey] = await this.redis.hmget(this.stateKey(app, slot), "gen", "len", "t0", "sgen", "skey");
    return stateFrom(gen ?? "0", len ?? "0", t0 ?? "0", sgen ?? undefined, skey ?? undefined);
  }

  async readCommitted(app: string, offsetsField: string): Promise<Interval[]> {
    this.roundTrips++;
    return decodeIntervals(await this.redis.hget(this.offsetsKey(app), offsetsField));
  }

  async acquireLease(name: string, token: string, ttlMs: number): Promise<boolean> {
    this.roundTrips++;
    const key = `${this.ns}:lease:${name}`;
    const r = await this.redis.set(key, token, "PX", ttlMs, "NX");
    if (r === "OK") return true;
    // renewal by the current holder
    if ((await this.redis.get(key)) === token) {
      await this.redis.pexpire(key, ttlMs);
      return true;
    }
    return false;
  }

  async releaseLease(name: string, token: string): Promise<void> {
    this.roundTrips++;
    await this.redis.lpRelease(`${this.ns}:lease:${name}`, token);
  }

  async close(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
