import { CronExpressionParser, type CronExpression } from "cron-parser";
import { DstAdjustment, DstGapPolicy, DstRepeatPolicy, type Cron } from "@chime/sdk/gen/schedule_pb";
import { offsetAt, transitionBetween } from "../util/zone-offset.js";

/**
 * Cron fire times in a zone, with the job's DST policy: the one place that decides what a local
 * time in a spring-forward gap or a fall-back repeat does (the scheduler, next-time computation
 * and PreviewSchedule all come here).
 *
 * The expression is matched against wall-clock times (cron-parser run in UTC over local
 * readings); each matching wall time is then resolved to instants in the zone. Expressions whose
 * hour field matches every hour follow real time instead of the policy: a gap's times do not
 * fire (the hour after it has its own) and a repeat's fire at both occurrences, so a per-minute
 * job keeps firing each real minute.
 */

/** Parses a 5- or 6-field cron expression; throws an Error saying what is wrong. */
export function parseCron(expression: string, timeZone: string, currentDate: Date = new Date()) {
  const fields = expression.trim().split(/\s+/).filter(Boolean);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new Error(`expected 5 fields, or 6 with seconds first, got ${fields.length}`);
  }
  // cron-parser reads H as a value hashed from a seed, random when none is given: the
  // job's fire times would change at every computation. Not supported.
  if (fields.some((field) => /(?<![A-Z])H(?![A-Z])/i.test(field))) {
    throw new Error("H (hashed values) is not supported; use explicit values");
  }
  return CronExpressionParser.parse(fields.join(" "), { currentDate, tz: timeZone || "UTC" });
}

/** Parsed expressions by text: parsing costs three times a reset and next(). */
const parsedCrons = new Map<string, CronExpression>();
const MAX_PARSED_CRONS = 10_000;

/** A parsed (valid) expression over wall-clock readings; shared, so use it at once. */
function wallCron(expression: string): CronExpression {
  let cron = parsedCrons.get(expression);
  if (!cron) {
    cron = parseCron(expression, "UTC");
    if (parsedCrons.size >= MAX_PARSED_CRONS) parsedCrons.delete(parsedCrons.keys().next().value!);
    parsedCrons.set(expression, cron);
  }
  return cron;
}

/** A fire time and what a DST rule did to it (UNSPECIFIED: nothing). */
export interface ResolvedTime {
  time: Date;
  adjustment: DstAdjustment;
}

/** One step along a cron schedule: the fire found, and the times DST_GAP_POLICY_SKIP dropped before it. */
export interface CronStep {
  fire?: ResolvedTime;
  skipped: ResolvedTime[];
}

interface WallResolution {
  fires: { time: number; adjustment: DstAdjustment }[];
  skipped?: number;
  /** Wall readings [from, to) of the gap or repeat this time is in, to step over at once. */
  span?: [number, number];
}

const DAY_MS = 86_400_000;
const SIX_HOURS_MS = 6 * 3_600_000;

function everyHour(expression: string): boolean {
  return wallCron(expression).fields.hour.values.length === 24;
}

/** The instants of wall reading `wall` (a local time written as UTC ms) in `zone`, by policy. */
function resolveWall(cron: Cron, realTime: boolean, wall: number): WallResolution {
  const zone = cron.timeZone || "UTC";
  const before = offsetAt(zone, wall - DAY_MS);
  const after = offsetAt(zone, wall + DAY_MS);
  const early = wall - before;
  const late = wall - after;
  const earlyValid = offsetAt(zone, early) === before;
  const lateValid = offsetAt(zone, late) === after;
  const plain = (time: number) => ({ time, adjustment: DstAdjustment.UNSPECIFIED });
  if (before === after || earlyValid !== lateValid) return { fires: [plain(earlyValid ? early : late)] };
  if (earlyValid) {
    // Fall back: the reading happens twice, first with the earlier (larger) offset.
    const at = transitionBetween(zone, early, late);
    const span: [number, number] = [at + after, at + before];
    if (realTime) return { fires: [plain(early), plain(late)], span };
    if (cron.dstRepeat === DstRepeatPolicy.BOTH) return { fires: [plain(early), { time: late, adjustment: DstAdjustment.DOUBLED }], span };
    return { fires: [plain(early)], span };
  }
  // Spring forward: the reading does not exist; read with the old offset it lies after the gap.
  const at = transitionBetween(zone, late, early);
  const span: [number, number] = [at + before, at + after];
  if (realTime) return { fires: [], span };
  if (cron.dstGap === DstGapPolicy.SKIP) return { fires: [], skipped: early, span };
  return { fires: [{ time: early, adjustment: DstAdjustment.SHIFTED }], span };
}

/**
 * The first fire strictly after `bound` (forward), or the last strictly before it (backward).
 *
 * Wall readings are searched from `bound` read with each offset the zone has within six hours of
 * it, so a time repeated or shifted just around `bound` is found whichever side it lies on; the
 * nearest resolved instant wins.
 */
export function cronStep(cron: Cron, bound: Date, forward: boolean): CronStep {
  const zone = cron.timeZone || "UTC";
  const from = bound.getTime();
  const expression = wallCron(cron.expression);
  const realTime = everyHour(cron.expression);
  const beyond = (time: number) => (forward ? time > from : time < from);
  const nearer = (a: number, b: number | undefined) => b === undefined || (forward ? a < b : a > b);
  let best: ResolvedTime | undefined;
  const skipped = new Map<number, ResolvedTime>();
  const offsets = new Set([offsetAt(zone, from - SIX_HOURS_MS), offsetAt(zone, from), offsetAt(zone, from + SIX_HOURS_MS)]);
  for (const offset of offsets) {
    let wall = from + offset;
    // Each round either finds a fire or steps over a gap or repeat: a few rounds at most.
    for (let round = 0; round < 16; round++) {
      expression.reset(new Date(wall));
      let next: number;
      try {
        next = (forward ? expression.next() : expression.prev()).getTime();
      } catch {
        break; // no further time (an expression that never matches again)
      }
      const resolved = resolveWall(cron, realTime, next);
      if (resolved.skipped !== undefined && beyond(resolved.skipped)) {
        skipped.set(resolved.skipped, { time: new Date(resolved.skipped), adjustment: DstAdjustment.SKIPPED });
      }
      const hits = resolved.fires.filter((fire) => beyond(fire.time));
      if (hits.length > 0) {
        const hit = forward ? hits[0] : hits[hits.length - 1];
        if (nearer(hit.time, best?.time.getTime())) best = { time: new Date(hit.time), adjustment: hit.adjustment };
        break;
      }
      wall = resolved.span ? (forward ? resolved.span[1] - 1 : resolved.span[0]) : next;
    }
  }
  const dropped = [...skipped.values()]
    // A skipped time may coincide with the fire (02:00 skipped, 03:00 fires): it is reported with it.
    .filter((time) => best === undefined || !nearer(best.time.getTime(), time.time.getTime()))
    .sort((a, b) => (forward ? 1 : -1) * (a.time.getTime() - b.time.getTime()));
  return { fire: best, skipped: dropped };
}
