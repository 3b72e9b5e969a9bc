/**
 * Time flags for the CLI (`--since 2h`, `--until 2024-05-01T10:00`) and the time-zone math the
 * archive's `dt=YYYY-MM-DD/hour=HH` partitions need (they are written in LOGPIPE_TIMEZONE).
 */
import { UsageError } from "../ops/errors.js";

export const HOUR_MS = 3_600_000;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: HOUR_MS, d: 24 * HOUR_MS, w: 7 * 24 * HOUR_MS };

/** Throws a UsageError naming the zone flag unless `tz` is an IANA time zone. */
export function checkTimeZone(flag: string, tz: string): string {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return tz;
  } catch {
    throw new UsageError(`${flag}: expected an IANA time zone such as UTC or Asia/Shanghai, got "${tz}"`);
  }
}

const offsetFormatters = new Map<string, Intl.DateTimeFormat>();

/** Offset of `tz` from UTC at instant `epochMs`, in ms (Asia/Shanghai → +8 h). */
export function zoneOffset(epochMs: number, tz: string): number {
  let f = offsetFormatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    offsetFormatters.set(tz, f);
  }
  const p = Object.fromEntries(f.formatToParts(new Date(epochMs)).map((x) => [x.type, x.value]));
  const asUtc = Date.UTC(Number(p.year), Number(p.month) - 1, Number(p.day), Number(p.hour), Number(p.minute), Number(p.second));
  return asUtc - Math.floor(epochMs / 1000) * 1000;
}

/** The instant a wall-clock time in `tz` names (the earlier one when DST makes it ambiguous). */
export function zonedToEpoch(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number, tz: string): number {
  const wall = Date.UTC(y, mo - 1, d, h, mi, s, ms);
  let t = wall - zoneOffset(wall, tz);
  const again = wall - zoneOffset(t, tz);
  if (again !== t) t = Math.min(t, again);
  return t;
}

/** Start instant of the archive partition `dt=YYYY-MM-DD/hour=HH` written in `tz`. */
export function partitionStart(dt: string, hour: string, tz: string): number {
  const [y, mo, d] = dt.split("-").map(Number) as [number, number, number];
  return zonedToEpoch(y, mo, d, Number(hour), 0, 0, 0, tz);
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3})\d*)?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/**
 * A `--since`/`--until` value → epoch ms. Accepts a duration back from `now` (`90s`, `30m`, `2h`,
 * `7d`, `1w`), `now`, or an ISO date/time (`2024-05-01`, `2024-05-01T10:30`, `…Z`, `…+08:00`);
 * a time without a zone is read in `tz`. Errors name the flag.
 */
export function parseTimeFlag(flag: string, text: string, now: number, tz: string): number {
  const v = text.trim();
  if (v.toLowerCase() === "now") return now;
  // one or more number+unit parts, largest first or not: 90m, 2h30m, 1d12h, 1.5h
  if (/^(?:\d+(?:\.\d+)?(?:ms|s|m|h|d|w))+$/i.test(v)) {
    let ms = 0;
    for (const part of v.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d|w)/gi)) ms += Number(part[1]) * DURATION_UNITS[part[2]!.toLowerCase()]!;
    return now - Math.round(ms);
  }
  const m = ISO.exec(v);
  if (m) {
    const [y, mo, d, h = "0", mi = "0", s = "0", frac = "0", zone] = m.slice(1) as string[];
    const nums = [Number(y), Number(mo), Number(d), Number(h), Number(mi), Number(s)];
    const valid = nums[1]! >= 1 && nums[1]! <= 12 && nums[2]! >= 1 && nums[2]! <= 31 && nums[3]! <= 23 && nums[4]! <= 59 && nums[5]! <= 59;
    if (valid) {
      const ms = Number(frac.padEnd(3, "0"));
      if (zone) {
        const off = zone.toUpperCase() === "Z" ? 0 : (zone[0] === "-" ? -1 : 1) * (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(-2))) * 60_000;
        return Date.UTC(nums[0]!, nums[1]! - 1, nums[2]!, nums[3]!, nums[4]!, nums[5]!, ms) - off;
      }
      return zonedToEpoch(nums[0]!, nums[1]!, nums[2]!, nums[3]!, nums[4]!, nums[5]!, ms, tz);
    }
  }
  throw new UsageError(
    `${flag}: expected a duration back from now (30m, 2h, 2h30m, 7d) or an ISO time (2024-05-01, 2024-05-01T10:30, 2024-05-01T10:30:00Z), got "${text}"`,
  );
}

/** `2024-05-01T10:00:00Z` (UTC, second precision) for messages. */
export function isoSeconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** Days (`YYYY-MM-DD` in `tz`) that [from, to] touches, in order. */
export function zonedDays(from: number, to: number, tz: string): string[] {
  const fmt = new Intl.DateTimeFormat("en-CA", { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit" });
  const days: string[] = [];
  // step by 1 h so DST days (23/25 h) are never skipped; dedupe consecutive repeats
  for (let t = from; ; t += HOUR_MS) {
    const day = fmt.format(new Date(Math.min(t, to)));
    if (days[days.length - 1] !== day) days.push(day);
    if (t >= to) break;
  }
  return days;
}
