/**
 * UTC offsets of IANA zones, read from the runtime's time-zone data (Intl).
 *
 * Offsets are cached per zone and quarter hour: every transition of the current tz database
 * since 1970 falls on a quarter hour, so the offset is constant within one, and a per-second
 * cron asks the same quarter hour 900 times.
 */
const QUARTER_HOUR_MS = 15 * 60_000;
const MAX_CACHED = 50_000;
const formatters = new Map<string, Intl.DateTimeFormat>();
const offsets = new Map<string, number>();

function formatter(zone: string): Intl.DateTimeFormat {
  let format = formatters.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat("en-US", {
      timeZone: zone,
      hourCycle: "h23",
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    });
    formatters.set(zone, format);
  }
  return format;
}

function computeOffset(zone: string, instant: number): number {
  const parts: Record<string, number> = {};
  for (const part of formatter(zone).formatToParts(new Date(instant))) {
    if (part.type !== "literal") parts[part.type] = Number(part.value);
  }
  const wall = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute, parts.second);
  return wall - (instant - (((instant % 1000) + 1000) % 1000));
}

/** The zone's UTC offset (ms, east positive) at `instant` (ms since the epoch). */
export function offsetAt(zone: string, instant: number): number {
  if (zone === "UTC") return 0;
  const bucket = Math.floor(instant / QUARTER_HOUR_MS);
  const key = `${zone}\u0000${bucket}`;
  let offset = offsets.get(key);
  if (offset === undefined) {
    offset = computeOffset(zone, bucket * QUARTER_HOUR_MS);
    if (offsets.size >= MAX_CACHED) offsets.clear();
    offsets.set(key, offset);
  }
  return offset;
}

/**
 * The instant the zone's offset changed between `from` and `to` (whose offsets differ): the
 * start of the first quarter hour after `from` that has `to`'s offset.
 */
export function transitionBetween(zone: string, from: number, to: number): number {
  const target = offsetAt(zone, to);
  let lo = Math.floor(from / QUARTER_HOUR_MS);
  let hi = Math.floor(to / QUARTER_HOUR_MS);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (offsetAt(zone, mid * QUARTER_HOUR_MS) === target) hi = mid;
    else lo = mid;
  }
  return hi * QUARTER_HOUR_MS;
}
