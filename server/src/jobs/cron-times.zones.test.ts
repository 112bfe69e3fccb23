import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { DstAdjustment, DstGapPolicy, DstRepeatPolicy, ScheduleSchema, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { previewSchedule } from "./schedule.js";

/**
 * The DST resolution of cron times checked against an independent reference: the system tz
 * database as `zdump -v` prints it (libc's reading of /usr/share/zoneinfo), not the runtime's
 * Intl data the code uses. For each zone and each transition in the years below, a daily cron
 * at a local time inside the gap or the repeat must give, under every policy, the instants
 * computed here from zdump's offsets alone.
 */
const FIRST_YEAR = 2019;
const LAST_YEAR = 2027;
const DAY_MS = 86_400_000;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

interface Transition {
  /** The first instant with the new offset (ms). */
  at: number;
  before: number;
  after: number;
}

/** zdump's transitions of `zone` from FIRST_YEAR to LAST_YEAR, with offsets in ms. */
function zdumpTransitions(zone: string): Transition[] {
  const output = execFileSync("zdump", ["-v", "-c", `${FIRST_YEAR},${LAST_YEAR + 1}`, zone], { encoding: "utf8" });
  const readings: { instant: number; offset: number }[] = [];
  for (const line of output.split("\n")) {
    const match = / (\w{3}) +(\d+) (\d\d):(\d\d):(\d\d) (\d{4}) UT = .* gmtoff=(-?\d+)$/.exec(line);
    if (!match) continue;
    const [, month, day, hour, minute, second, year, gmtoff] = match;
    const instant = Date.UTC(Number(year), MONTHS.indexOf(month), Number(day), Number(hour), Number(minute), Number(second));
    readings.push({ instant, offset: Number(gmtoff) * 1000 });
  }
  // zdump prints each transition as the second before it and the second it takes effect.
  const transitions: Transition[] = [];
  for (let i = 1; i < readings.length; i++) {
    const [last, first] = [readings[i - 1], readings[i]];
    if (first.instant - last.instant === 1000 && first.offset !== last.offset) {
      transitions.push({ at: first.instant, before: last.offset, after: first.offset });
    }
  }
  return transitions;
}

/** A daily cron at the local time-of-day of `wall` (a local time written as UTC ms). */
function dailyAt(wall: number, zone: string, dstGap: DstGapPolicy, dstRepeat: DstRepeatPolicy): Schedule {
  const time = new Date(wall);
  const expression = `${time.getUTCSeconds()} ${time.getUTCMinutes()} ${time.getUTCHours()} * * *`;
  return create(ScheduleSchema, { kind: { case: "cron", value: { expression, timeZone: zone, dstGap, dstRepeat } } });
}

type Expected = [instant: number, adjustment: DstAdjustment][];

/** The previewed times of `schedule` from just before `from`, as [ms, adjustment] pairs. */
function resolved(schedule: Schedule, from: number, count: number): Expected {
  return previewSchedule(schedule, new Date(from - 1), count, { createTime: new Date(from), runCount: 0 }).map((time) => [
    time.time.getTime(),
    time.adjustment,
  ]);
}

const { SHIFTED, SKIPPED, DOUBLED, UNSPECIFIED: PLAIN } = DstAdjustment;

/** Checks every gap and repeat of `zone` in zdump's data; returns how many transitions it checked. */
function checkZone(zone: string): number {
  const transitions = zdumpTransitions(zone);
  for (const { at, before, after } of transitions) {
    const shift = after - before;
    const label = `${zone} at ${new Date(at).toISOString()}`;
    if (shift > 0) {
      // Spring forward: local readings [at + before, at + after) do not exist. Take the middle one.
      const wall = at + before + shift / 2;
      const dayBefore = wall - DAY_MS - before;
      const dayAfter = wall + DAY_MS - after;
      const moved = wall - before; // read with the old offset: moved forward by the gap
      for (const repeat of [DstRepeatPolicy.FIRST, DstRepeatPolicy.BOTH]) {
        expect(resolved(dailyAt(wall, zone, DstGapPolicy.UNSPECIFIED, repeat), dayBefore, 3), `${label} default`).toEqual([
          [dayBefore, PLAIN],
          [moved, SHIFTED],
          [dayAfter, PLAIN],
        ]);
        expect(resolved(dailyAt(wall, zone, DstGapPolicy.SHIFT, repeat), dayBefore, 3), `${label} SHIFT`).toEqual([
          [dayBefore, PLAIN],
          [moved, SHIFTED],
          [dayAfter, PLAIN],
        ]);
        expect(resolved(dailyAt(wall, zone, DstGapPolicy.SKIP, repeat), dayBefore, 2), `${label} SKIP`).toEqual([
          [dayBefore, PLAIN],
          [moved, SKIPPED],
          [dayAfter, PLAIN],
        ]);
      }
    } else {
      // Fall back: local readings [at + after, at + before) happen twice. Take the middle one.
      const wall = at + after - shift / 2;
      const dayBefore = wall - DAY_MS - before;
      const dayAfter = wall + DAY_MS - after;
      const first = wall - before;
      const second = wall - after;
      for (const gap of [DstGapPolicy.SHIFT, DstGapPolicy.SKIP]) {
        for (const repeat of [DstRepeatPolicy.UNSPECIFIED, DstRepeatPolicy.FIRST]) {
          expect(resolved(dailyAt(wall, zone, gap, repeat), dayBefore, 3), `${label} FIRST`).toEqual([
            [dayBefore, PLAIN],
            [first, PLAIN],
            [dayAfter, PLAIN],
          ]);
        }
        expect(resolved(dailyAt(wall, zone, gap, DstRepeatPolicy.BOTH), dayBefore, 4), `${label} BOTH`).toEqual([
          [dayBefore, PLAIN],
          [first, PLAIN],
          [second, DOUBLED],
          [dayAfter, PLAIN],
        ]);
      }
    }
    // A per-minute cron follows real time through the change, whatever the policy: one fire a minute.
    const everyMinute = create(ScheduleSchema, {
      kind: { case: "cron", value: { expression: "* * * * *", timeZone: zone, dstGap: DstGapPolicy.SKIP, dstRepeat: DstRepeatPolicy.BOTH } },
    });
    const minutes = resolved(everyMinute, at - 90 * 60_000, 180);
    expect(minutes, label).toEqual(minutes.map((_, i) => [at - 90 * 60_000 + i * 60_000, PLAIN]));
  }
  return transitions.length;
}

describe("cron DST resolution against zdump", () => {
  it("zdump is there (libc-bin) and reads the tz database", () => {
    expect(zdumpTransitions("America/New_York").length).toBe(2 * (LAST_YEAR - FIRST_YEAR + 1));
  });

  it.each([
    ["America/New_York", "US: 1 h, spring 02:00 → 03:00, fall 02:00 → 01:00"],
    ["Europe/Berlin", "EU: 1 h, at 01:00 UTC"],
    ["Europe/London", "EU: 1 h, between GMT and BST"],
    ["Australia/Sydney", "southern hemisphere: spring forward in October"],
    ["Australia/Lord_Howe", "30-minute shift"],
  ])("%s (%s): every gap and repeat, every policy", (zone) => {
    expect(checkZone(zone)).toBe(2 * (LAST_YEAR - FIRST_YEAR + 1));
  });

  it.each([
    ["America/Mexico_City", 2022],
    ["Asia/Tehran", 2022],
    ["America/Asuncion", 2024],
  ])("%s, whose last change was in %i (DST abolished): its old transitions, then none", (zone, lastYear) => {
    const transitions = zdumpTransitions(zone);
    expect(checkZone(zone)).toBe(2 * (lastYear - FIRST_YEAR + 1));
    expect(new Date(transitions.at(-1)!.at).getUTCFullYear()).toBe(lastYear);
    // The year after, a daily cron at the local time the last spring forward skipped fires at it,
    // unmoved, every day.
    const lastGap = transitions.filter((transition) => transition.after > transition.before).at(-1)!;
    const timeOfDay = (lastGap.at + lastGap.before + (lastGap.after - lastGap.before) / 2) % DAY_MS;
    const offset = transitions.at(-1)!.after;
    const firstFire = Date.UTC(lastYear + 1, 0, 1) + timeOfDay - offset;
    for (const policy of [DstGapPolicy.SHIFT, DstGapPolicy.SKIP]) {
      const year = resolved(dailyAt(firstFire + offset, zone, policy, DstRepeatPolicy.BOTH), firstFire, 365);
      expect(year).toEqual(year.map((_, i) => [firstFire + i * DAY_MS, PLAIN]));
    }
  });
});
