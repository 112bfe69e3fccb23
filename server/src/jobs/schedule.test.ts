import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { DstAdjustment, DstGapPolicy, DstRepeatPolicy, ScheduleSchema, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { isKnownTimeZone, lastFireTimeBetween, nextFire, nextFireTime, parseCron, previewFireTimes, previewSchedule } from "./schedule.js";

const d = (iso: string) => new Date(iso);
const iso = (dates: Date[]) => dates.map((date) => date.toISOString());
const ts = (value: string) => timestampFromDate(d(value));

function cron(expression: string, timeZone = "UTC", extra: Partial<Pick<Schedule, "startTime" | "endTime" | "maxRuns">> = {}): Schedule {
  return create(ScheduleSchema, { kind: { case: "cron", value: { expression, timeZone } }, ...extra });
}

function interval(everyMs: number, anchor?: string, extra: Partial<Pick<Schedule, "startTime" | "endTime" | "maxRuns">> = {}): Schedule {
  return create(ScheduleSchema, {
    kind: {
      case: "interval",
      value: { every: { seconds: BigInt(Math.floor(everyMs / 1000)), nanos: (everyMs % 1000) * 1e6 }, anchor: anchor ? ts(anchor) : undefined },
    },
    ...extra,
  });
}

const fresh = (createTime = "2026-01-01T00:00:00Z") => ({ createTime: d(createTime), runCount: 0 });

/** The wall-clock time in a zone, "YYYY-MM-DD HH:MM:SS (offset)". */
function local(date: Date, timeZone: string): string {
  const parts = new Intl.DateTimeFormat("en-CA", {
    timeZone,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "short",
  }).formatToParts(date);
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  return `${get("year")}-${get("month")}-${get("day")} ${get("hour")}:${get("minute")}:${get("second")} ${get("timeZoneName")}`;
}

describe("immediate", () => {
  const schedule = create(ScheduleSchema, { kind: { case: "immediate", value: {} } });

  it("fires once, at the creation time, and never again", () => {
    expect(nextFireTime(schedule, d("2026-01-01T00:00:00Z"), fresh("2026-01-01T00:00:05Z"))).toEqual(d("2026-01-01T00:00:05Z"));
    expect(nextFireTime(schedule, d("2026-01-01T00:00:00Z"), { createTime: d("2026-01-01T00:00:05Z"), runCount: 1 })).toBeUndefined();
    expect(iso(previewFireTimes(schedule, d("2026-01-01T00:00:00Z"), 5, fresh("2026-01-01T00:00:05Z")))).toEqual(["2026-01-01T00:00:05.000Z"]);
  });

  it("waits for start_time", () => {
    const later = create(ScheduleSchema, { kind: { case: "immediate", value: {} }, startTime: ts("2026-02-01T00:00:00Z") });
    expect(nextFireTime(later, d("2026-01-01T00:00:00Z"), fresh())).toEqual(d("2026-02-01T00:00:00Z"));
  });
});

describe("at", () => {
  const schedule = create(ScheduleSchema, { kind: { case: "at", value: { time: ts("2026-06-01T12:00:00Z") } } });

  it("fires once at its time", () => {
    expect(nextFireTime(schedule, d("2026-01-01T00:00:00Z"), fresh())).toEqual(d("2026-06-01T12:00:00Z"));
    expect(nextFireTime(schedule, d("2026-01-01T00:00:00Z"), { ...fresh(), runCount: 1 })).toBeUndefined();
    expect(iso(previewFireTimes(schedule, d("2026-01-01T00:00:00Z"), 3, fresh()))).toEqual(["2026-06-01T12:00:00.000Z"]);
  });

  it("does not fire after end_time", () => {
    const ended = create(ScheduleSchema, { kind: { case: "at", value: { time: ts("2026-06-01T12:00:00Z") } }, endTime: ts("2026-05-01T00:00:00Z") });
    expect(nextFireTime(ended, d("2026-01-01T00:00:00Z"), fresh())).toBeUndefined();
  });
});

describe("cron", () => {
  it("gives the same answer whatever was computed before with the same expression (parsed once, repositioned)", () => {
    const schedule = cron("0 30 2 * * *", "Europe/Berlin");
    const afters = ["2026-03-29T00:59:00Z", "2026-01-15T12:00:00Z", "2026-10-25T00:10:00Z", "2026-03-29T00:59:00Z"];
    const answers = afters.map((after) => nextFireTime(schedule, d(after), fresh())!.toISOString());
    // 02:30 does not exist on 29 March in Berlin (clocks jump to 03:00); 25 October has it once in CEST at 00:30Z.
    expect(answers[0]).toBe(answers[3]);
    expect(answers[1]).toBe("2026-01-16T01:30:00.000Z");
    expect(answers.map((a) => new Date(a).getTime() > 0)).toEqual([true, true, true, true]);
    expect(nextFireTime(schedule, d("2026-01-15T12:00:00Z"), fresh())!.toISOString()).toBe(answers[1]);
  });

  it("reads 5 fields with minute precision", () => {
    expect(iso(previewFireTimes(cron("*/15 9 * * *"), d("2026-03-02T08:59:59Z"), 5, fresh()))).toEqual([
      "2026-03-02T09:00:00.000Z",
      "2026-03-02T09:15:00.000Z",
      "2026-03-02T09:30:00.000Z",
      "2026-03-02T09:45:00.000Z",
      "2026-03-03T09:00:00.000Z",
    ]);
  });

  it("reads 6 fields with seconds first", () => {
    expect(iso(previewFireTimes(cron("*/20 * * * * *"), d("2026-03-02T08:59:59.500Z"), 4, fresh()))).toEqual([
      "2026-03-02T09:00:00.000Z",
      "2026-03-02T09:00:20.000Z",
      "2026-03-02T09:00:40.000Z",
      "2026-03-02T09:01:00.000Z",
    ]);
    expect(iso(previewFireTimes(cron("30 0 12 * * MON"), d("2026-03-01T00:00:00Z"), 2, fresh()))).toEqual([
      "2026-03-02T12:00:30.000Z",
      "2026-03-09T12:00:30.000Z",
    ]);
  });

  it("fires strictly after the given time", () => {
    expect(nextFireTime(cron("0 * * * *"), d("2026-03-02T09:00:00Z"), fresh())).toEqual(d("2026-03-02T10:00:00Z"));
  });

  it("follows the time zone", () => {
    const [first] = previewFireTimes(cron("0 9 * * *", "Asia/Kolkata"), d("2026-03-02T00:00:00Z"), 1, fresh());
    expect(first.toISOString()).toBe("2026-03-02T03:30:00.000Z");
    expect(local(first, "Asia/Kolkata")).toBe("2026-03-02 09:00:00 GMT+5:30");
  });

  it("respects start_time, end_time and max_runs", () => {
    const bounded = cron("0 0 * * *", "UTC", { startTime: ts("2026-01-10T12:00:00Z"), endTime: ts("2026-01-13T00:00:00Z") });
    expect(iso(previewFireTimes(bounded, d("2026-01-01T00:00:00Z"), 10, fresh()))).toEqual([
      "2026-01-11T00:00:00.000Z",
      "2026-01-12T00:00:00.000Z",
      "2026-01-13T00:00:00.000Z",
    ]);
    // A fire time exactly at start_time counts.
    const atStart = cron("0 0 * * *", "UTC", { startTime: ts("2026-01-10T00:00:00Z") });
    expect(nextFireTime(atStart, d("2026-01-01T00:00:00Z"), fresh())).toEqual(d("2026-01-10T00:00:00Z"));

    const limited = cron("0 0 * * *", "UTC", { maxRuns: 3n });
    expect(previewFireTimes(limited, d("2026-01-01T00:00:00Z"), 10, fresh())).toHaveLength(3);
    expect(previewFireTimes(limited, d("2026-01-01T00:00:00Z"), 10, { ...fresh(), runCount: 2 })).toHaveLength(1);
    expect(nextFireTime(limited, d("2026-01-01T00:00:00Z"), { ...fresh(), runCount: 3 })).toBeUndefined();
  });

  describe("DST in America/New_York", () => {
    const zone = "America/New_York";

    it("spring forward (2026-03-08): a 02:30 daily job fires once, at 03:30 EDT, that day", () => {
      const times = previewFireTimes(cron("30 2 * * *", zone), d("2026-03-06T12:00:00Z"), 4, fresh());
      expect(times.map((t) => local(t, zone))).toEqual([
        "2026-03-07 02:30:00 EST",
        "2026-03-08 03:30:00 EDT",
        "2026-03-09 02:30:00 EDT",
        "2026-03-10 02:30:00 EDT",
      ]);
      expect(times[1].toISOString()).toBe("2026-03-08T07:30:00.000Z");
      // 03:30 EDT is 24 real hours after 02:30 EST; the next day's 02:30 EDT comes 23 hours later.
      expect(times[1].getTime() - times[0].getTime()).toBe(24 * 3_600_000);
      expect(times[2].getTime() - times[1].getTime()).toBe(23 * 3_600_000);
    });

    it("spring forward: an hourly job skips the missing hour and never fires twice", () => {
      const times = previewFireTimes(cron("0 * * * *", zone), d("2026-03-08T05:30:00Z"), 4, fresh());
      expect(times.map((t) => local(t, zone))).toEqual([
        "2026-03-08 01:00:00 EST",
        "2026-03-08 03:00:00 EDT",
        "2026-03-08 04:00:00 EDT",
        "2026-03-08 05:00:00 EDT",
      ]);
      // One real hour between 01:00 EST and 03:00 EDT.
      expect(times[1].getTime() - times[0].getTime()).toBe(3_600_000);
    });

    it("fall back (2026-11-01): a 01:30 daily job fires once, at the first 01:30 (EDT)", () => {
      for (const expression of ["30 1 * * *", "0 30 1 * * *"]) {
        const times = previewFireTimes(cron(expression, zone), d("2026-10-30T12:00:00Z"), 4, fresh());
        expect(times.map((t) => local(t, zone)), expression).toEqual([
          "2026-10-31 01:30:00 EDT",
          "2026-11-01 01:30:00 EDT",
          "2026-11-02 01:30:00 EST",
          "2026-11-03 01:30:00 EST",
        ]);
        expect(times[1].toISOString()).toBe("2026-11-01T05:30:00.000Z");
        // Asked again from just after the first 01:30, it does not fire at the second one (06:30Z).
        expect(nextFireTime(cron(expression, zone), times[1], fresh())?.toISOString()).toBe("2026-11-02T06:30:00.000Z");
      }
    });

    it("fall back: a job every 30 minutes fires in both 01:xx hours (each real half hour)", () => {
      const times = previewFireTimes(cron("*/30 * * * *", zone), d("2026-11-01T04:50:00Z"), 6, fresh());
      expect(times.map((t) => local(t, zone))).toEqual([
        "2026-11-01 01:00:00 EDT",
        "2026-11-01 01:30:00 EDT",
        "2026-11-01 01:00:00 EST",
        "2026-11-01 01:30:00 EST",
        "2026-11-01 02:00:00 EST",
        "2026-11-01 02:30:00 EST",
      ]);
      for (let i = 1; i < times.length; i++) expect(times[i].getTime() - times[i - 1].getTime()).toBe(1_800_000);
    });
  });
});

describe("cron DST policies (America/New_York, 2026: spring forward 03-08 02:00 EST → 03:00 EDT, fall back 11-01 02:00 EDT → 01:00 EST)", () => {
  const zone = "America/New_York";
  const { SHIFT, SKIP } = DstGapPolicy;
  const { FIRST, BOTH } = DstRepeatPolicy;
  const policy = (expression: string, dstGap: DstGapPolicy, dstRepeat: DstRepeatPolicy, tz = zone) =>
    create(ScheduleSchema, { kind: { case: "cron", value: { expression, timeZone: tz, dstGap, dstRepeat } } });
  const MARK = { [DstAdjustment.UNSPECIFIED]: "", [DstAdjustment.SHIFTED]: " shifted", [DstAdjustment.SKIPPED]: " skipped", [DstAdjustment.DOUBLED]: " doubled" };
  const annotated = (schedule: Schedule, after: string, count: number, tz = zone) =>
    previewSchedule(schedule, d(after), count, fresh()).map((t) => local(t.time, tz) + MARK[t.adjustment]);

  it.each([
    ["30 2 * * *", SHIFT, FIRST, ["2026-03-07 02:30:00 EST", "2026-03-08 03:30:00 EDT shifted", "2026-03-09 02:30:00 EDT"]],
    ["30 2 * * *", SKIP, FIRST, ["2026-03-07 02:30:00 EST", "2026-03-08 03:30:00 EDT skipped", "2026-03-09 02:30:00 EDT", "2026-03-10 02:30:00 EDT"]],
    // Shifted times that land on times of their own fire once.
    ["0,30 2,3 * * *", SHIFT, FIRST, ["2026-03-08 03:00:00 EDT shifted", "2026-03-08 03:30:00 EDT shifted", "2026-03-09 02:00:00 EDT"]],
    ["0,30 2,3 * * *", SKIP, FIRST, ["2026-03-08 03:00:00 EDT skipped", "2026-03-08 03:00:00 EDT", "2026-03-08 03:30:00 EDT skipped", "2026-03-08 03:30:00 EDT", "2026-03-09 02:00:00 EDT"]],
  ] as const)("spring forward: %s, gap %i, repeat %i", (expression, gap, repeat, expected) => {
    const after = expression.startsWith("0,30") ? "2026-03-08T06:00:00Z" : "2026-03-06T12:00:00Z";
    expect(annotated(policy(expression, gap, repeat), after, 3)).toEqual(expected);
  });

  it.each([
    ["30 1 * * *", FIRST, ["2026-10-31 01:30:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-02 01:30:00 EST"]],
    ["30 1 * * *", BOTH, ["2026-10-31 01:30:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-01 01:30:00 EST doubled", "2026-11-02 01:30:00 EST"]],
    // Both occurrences in real-time order: the first hour's times, then the repeated hour's.
    [
      "0,30 1 * * *",
      BOTH,
      ["2026-10-31 01:00:00 EDT", "2026-10-31 01:30:00 EDT", "2026-11-01 01:00:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-01 01:00:00 EST doubled", "2026-11-01 01:30:00 EST doubled", "2026-11-02 01:00:00 EST"],
    ],
    ["0,30 1 * * *", FIRST, ["2026-10-31 01:00:00 EDT", "2026-10-31 01:30:00 EDT", "2026-11-01 01:00:00 EDT", "2026-11-01 01:30:00 EDT", "2026-11-02 01:00:00 EST", "2026-11-02 01:30:00 EST", "2026-11-03 01:00:00 EST"]],
  ] as const)("fall back: %s, repeat %i", (expression, repeat, expected) => {
    for (const gap of [SHIFT, SKIP]) expect(annotated(policy(expression, gap, repeat), "2026-10-30T12:00:00Z", expected.length)).toEqual(expected);
  });

  it("expressions matching every hour follow real time under every policy: no gap time, both repeated hours, nothing marked", () => {
    for (const [gap, repeat] of [[SHIFT, FIRST], [SKIP, BOTH]] as const) {
      expect(annotated(policy("30 * * * *", gap, repeat), "2026-03-08T06:00:00Z", 2)).toEqual(["2026-03-08 01:30:00 EST", "2026-03-08 03:30:00 EDT"]);
      expect(annotated(policy("30 * * * *", gap, repeat), "2026-11-01T05:00:00Z", 3)).toEqual(["2026-11-01 01:30:00 EDT", "2026-11-01 01:30:00 EST", "2026-11-01 02:30:00 EST"]);
      // Lord Howe's half-hour gap (2026-10-04 02:00 → 02:30): 02:15 does not exist, 03:15 comes an hour after 01:15 (real time).
      expect(annotated(policy("15 * * * *", gap, repeat, "Australia/Lord_Howe"), "2026-10-03T14:00:00Z", 2, "Australia/Lord_Howe")).toEqual([
        "2026-10-04 01:15:00 GMT+10:30",
        "2026-10-04 03:15:00 GMT+11",
      ]);
    }
  });

  it("a per-second cron tied to the repeated hour fires each second of both occurrences under BOTH, in order, once each", () => {
    const times = previewFireTimes(policy("* * 1 * * *", SHIFT, BOTH), d("2026-11-01T04:59:59Z"), 7201, fresh()).map((t) => t.getTime());
    expect(times[0]).toBe(Date.parse("2026-11-01T05:00:00Z"));
    expect(times[7199]).toBe(Date.parse("2026-11-01T06:59:59Z"));
    expect(times[7200]).toBe(Date.parse("2026-11-02T06:00:00Z"));
    for (let i = 1; i < 7200; i++) expect(times[i] - times[i - 1]).toBe(1000);
    // Under FIRST, only the first hour.
    const first = previewFireTimes(policy("* * 1 * * *", SHIFT, FIRST), d("2026-11-01T05:59:58Z"), 2, fresh());
    expect(iso(first)).toEqual(["2026-11-01T05:59:59.000Z", "2026-11-02T06:00:00.000Z"]);
  });

  it("nextFire reports what it resolved, and the skipped times before it (for schedule events)", () => {
    const step = nextFire(policy("30 2 * * *", SKIP, FIRST), d("2026-03-07T12:00:00Z"), fresh());
    expect(step.fire?.time.toISOString()).toBe("2026-03-09T06:30:00.000Z");
    expect(step.fire?.adjustment).toBe(DstAdjustment.UNSPECIFIED);
    expect(step.skipped.map((t) => [t.time.toISOString(), t.adjustment])).toEqual([["2026-03-08T07:30:00.000Z", DstAdjustment.SKIPPED]]);
  });

  it("the catch-up search (lastFireTimeBetween) resolves times as the forward search does", () => {
    const at = (expression: string, gap: DstGapPolicy, repeat: DstRepeatPolicy, from: string, to: string) =>
      lastFireTimeBetween(policy(expression, gap, repeat), d(from), d(to), fresh())?.toISOString();
    expect(at("30 2 * * *", SHIFT, FIRST, "2026-03-08T00:00:00Z", "2026-03-08T12:00:00Z")).toBe("2026-03-08T07:30:00.000Z");
    expect(at("30 2 * * *", SKIP, FIRST, "2026-03-08T00:00:00Z", "2026-03-08T12:00:00Z")).toBeUndefined();
    expect(at("30 1 * * *", SHIFT, FIRST, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z")).toBe("2026-11-01T05:30:00.000Z");
    expect(at("30 1 * * *", SHIFT, BOTH, "2026-11-01T00:00:00Z", "2026-11-01T12:00:00Z")).toBe("2026-11-01T06:30:00.000Z");
    expect(at("30 1 * * *", SHIFT, BOTH, "2026-11-01T00:00:00Z", "2026-11-01T06:29:59Z")).toBe("2026-11-01T05:30:00.000Z");
  });
});

describe("interval", () => {
  it("fires at anchor + k * every, the first one strictly after the given time", () => {
    const schedule = interval(90_000, "2026-01-01T00:00:00Z");
    expect(iso(previewFireTimes(schedule, d("2026-01-01T00:02:00Z"), 3, fresh()))).toEqual([
      "2026-01-01T00:03:00.000Z",
      "2026-01-01T00:04:30.000Z",
      "2026-01-01T00:06:00.000Z",
    ]);
    expect(nextFireTime(schedule, d("2026-01-01T00:03:00Z"), fresh())).toEqual(d("2026-01-01T00:04:30Z"));
  });

  it("fires at the anchor itself when the anchor is in the future", () => {
    expect(nextFireTime(interval(60_000, "2026-05-01T10:00:00Z"), d("2026-01-01T00:00:00Z"), fresh())).toEqual(d("2026-05-01T10:00:00Z"));
  });

  it("anchors on the creation time when there is no anchor", () => {
    const schedule = interval(10_000);
    expect(iso(previewFireTimes(schedule, d("2026-01-01T00:00:00Z"), 2, fresh("2026-01-01T00:00:03Z")))).toEqual([
      "2026-01-01T00:00:03.000Z",
      "2026-01-01T00:00:13.000Z",
    ]);
  });

  it("keeps sub-second intervals exact over many steps (no drift)", () => {
    const times = previewFireTimes(interval(1_500, "2026-01-01T00:00:00Z"), d("2026-01-01T00:00:00Z"), 100, fresh());
    expect(times[99].toISOString()).toBe("2026-01-01T00:02:30.000Z");
  });

  it("respects start_time (aligned to the anchor), end_time and max_runs", () => {
    const bounded = interval(3_600_000, "2026-01-01T00:15:00Z", { startTime: ts("2026-01-01T05:00:00Z"), endTime: ts("2026-01-01T08:15:00Z") });
    expect(iso(previewFireTimes(bounded, d("2026-01-01T00:00:00Z"), 10, fresh()))).toEqual([
      "2026-01-01T05:15:00.000Z",
      "2026-01-01T06:15:00.000Z",
      "2026-01-01T07:15:00.000Z",
      "2026-01-01T08:15:00.000Z",
    ]);
    const limited = interval(60_000, "2026-01-01T00:00:00Z", { maxRuns: 2n });
    expect(previewFireTimes(limited, d("2026-01-01T00:00:00Z"), 10, fresh())).toHaveLength(2);
  });
});

describe("parseCron and isKnownTimeZone", () => {
  it("accepts 5 and 6 fields and refuses other counts", () => {
    expect(() => parseCron("* * * * *", "UTC")).not.toThrow();
    expect(() => parseCron("  0  0 * * * *  ", "UTC")).not.toThrow();
    expect(() => parseCron("* * * *", "UTC")).toThrow(/got 4/);
    expect(() => parseCron("* * * * * * *", "UTC")).toThrow(/got 7/);
    expect(() => parseCron("@daily", "UTC")).toThrow(/got 1/);
  });

  it("refuses out-of-range values and H (hashed, random without a seed)", () => {
    expect(() => parseCron("60 * * * *", "UTC")).toThrow();
    expect(() => parseCron("* * * 13 *", "UTC")).toThrow();
    expect(() => parseCron("H * * * *", "UTC")).toThrow(/H/);
    expect(() => parseCron("0 H/2 * * *", "UTC")).toThrow(/H/);
    // Day names containing an H are fine.
    expect(() => parseCron("0 0 * * THU", "UTC")).not.toThrow();
  });

  it("knows IANA zones", () => {
    expect(isKnownTimeZone("America/New_York")).toBe(true);
    expect(isKnownTimeZone("UTC")).toBe(true);
    expect(isKnownTimeZone("Mars/Olympus")).toBe(false);
    expect(isKnownTimeZone("")).toBe(false);
  });
});
