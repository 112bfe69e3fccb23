import { beforeAll, describe, expect, it } from "vitest";
import { tickStepMinutes, timeTicks } from "./time-axis";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

// Labels are local times: this file's are Paris's (Node reads TZ when it changes).
beforeAll(() => {
  process.env.TZ = "Europe/Paris";
});

describe("tickStepMinutes", () => {
  it.each([
    [15 * MIN, 5],
    [HOUR, 10],
    [6 * HOUR, 60],
    [DAY, 360],
    [7 * DAY, 1440],
    [31 * DAY, 10080],
  ])("a range of %d ms has a tick every %d min", (span, step) => {
    expect(tickStepMinutes(span)).toBe(step);
  });
});

describe("timeTicks", () => {
  // 2026-12-03 13:07:30 in Paris (UTC+1).
  const start = Date.UTC(2026, 11, 3, 12, 7, 30);
  it.each([
    ["15 minutes", start, start + 15 * MIN, ["13:10", "13:15", "13:20"]],
    ["an hour", start, start + HOUR, ["13:10", "13:20", "13:30", "13:40", "13:50", "14:00"]],
    ["six hours", start, start + 6 * HOUR, ["14:00", "15:00", "16:00", "17:00", "18:00", "19:00"]],
    ["a day: midnight by its date", start, start + DAY, ["18:00", "Dec 4", "06:00", "12:00"]],
    ["a week: every midnight", start, start + 7 * DAY, ["Dec 4", "Dec 5", "Dec 6", "Dec 7", "Dec 8", "Dec 9", "Dec 10"]],
    ["a month: every seventh midnight, into the next year", start, start + 31 * DAY, ["Dec 4", "Dec 11", "Dec 18", "Dec 25", "Jan 1"]],
  ])("%s", (_name, from, to, labels) => {
    const ticks = timeTicks(from, to);
    expect(ticks.map((t) => t.label)).toEqual(labels);
    for (const t of ticks) {
      expect(t.x).toBeGreaterThanOrEqual(0);
      expect(t.x).toBeLessThanOrEqual(1);
      expect(t.x).toBeCloseTo((t.at - from) / (to - from));
    }
  });

  it.each([
    // 2026-10-25, 03:00 back to 02:00: the hour after the first 02:00 is 03:00, two real hours on.
    ["autumn", Date.UTC(2026, 9, 24, 22, 0), ["00:00@0", "01:00@1", "02:00@2", "03:00@4", "04:00@5", "05:00@6"]],
    // 2026-03-29, 02:00 forward to 03:00: no 02:00 that night.
    ["spring", Date.UTC(2026, 2, 28, 23, 0), ["00:00@0", "01:00@1", "03:00@2", "04:00@3", "05:00@4", "06:00@5", "07:00@6"]],
  ])("keeps to round local hours across Paris's DST change in %s", (_season, from, expected) => {
    expect(timeTicks(from, from + 6 * HOUR).map((t) => `${t.label}@${(t.at - from) / HOUR}`)).toEqual(expected);
  });

  it("is empty for an empty range", () => {
    expect(timeTicks(start, start)).toEqual([]);
  });
});
