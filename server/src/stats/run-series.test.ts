import { describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { durationToMs, msToDuration } from "../util/time.js";
import { bucketOf, emptyBuckets } from "./histogram.js";
import { assembleSeries, bucketWidthMs, defaultBucketWidthMs, type BucketRow } from "./run-series.js";

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;

describe("defaultBucketWidthMs", () => {
  it.each([
    [MIN, 1],
    [15 * MIN, 1],
    [HOUR, 1],
    [61 * MIN, 2],
    [6 * HOUR, 10],
    [24 * HOUR, 30],
    [7 * DAY, 180],
    [31 * DAY, 1440],
  ])("a window of %d ms has buckets of %d min", (window, minutes) => {
    expect(defaultBucketWidthMs(window)).toBe(minutes * MIN);
    expect(window / defaultBucketWidthMs(window)).toBeLessThanOrEqual(60);
  });
});

describe("bucketWidthMs", () => {
  it.each([
    [{ seconds: 300n, nanos: 0 }, HOUR, 5 * MIN],
    [{ seconds: 3600n, nanos: 0 }, HOUR, HOUR],
    [{ seconds: 60n, nanos: 0 }, DAY, MIN],
    [{ seconds: 1860n, nanos: 0 }, 31 * DAY, 31 * MIN],
  ])("takes %o for a window of %d ms", (width, window, expected) => {
    expect(bucketWidthMs({ $typeName: "google.protobuf.Duration", ...width }, window)).toBe(expected);
  });

  it.each([
    [{ seconds: 30n, nanos: 0 }, HOUR, "bucket_width: expected whole minutes, at least 1 min"],
    [{ seconds: 90n, nanos: 0 }, HOUR, "bucket_width: expected whole minutes, at least 1 min"],
    [{ seconds: 60n, nanos: 5 }, HOUR, "bucket_width: expected whole minutes, at least 1 min"],
    [{ seconds: -60n, nanos: 0 }, HOUR, "bucket_width: expected whole minutes, at least 1 min"],
    [{ seconds: 7200n, nanos: 0 }, HOUR, "bucket_width: expected at most the window"],
    [{ seconds: 60n, nanos: 0 }, 2 * DAY, "bucket_width: expected at least 2 min for this window (at most 1440 buckets)"],
  ])("refuses %o for a window of %d ms", (width, window, message) => {
    let error = new ConnectError("accepted");
    try {
      bucketWidthMs({ $typeName: "google.protobuf.Duration", ...width }, window);
    } catch (e) {
      error = ConnectError.from(e);
    }
    expect([Code[error.code], error.rawMessage]).toEqual(["InvalidArgument", message]);
  });
});

describe("assembleSeries", () => {
  const START = Date.UTC(2026, 11, 1, 12, 0);
  const histogram = (...values: number[]) => {
    const buckets = emptyBuckets();
    for (const v of values) buckets[bucketOf(v)]++;
    return buckets;
  };
  const row = (bucket: number, counts: Partial<BucketRow>, durations: number[] = [], lags: number[] = []): BucketRow => ({
    bucket,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    timed_out: 0,
    durations: histogram(...durations),
    lags: histogram(...lags),
    ...counts,
  });

  it("every bucket up to the one the end falls in, zeros where no row is, and the total", () => {
    const rows = [row(0, { succeeded: 2 }, [40, 40], [3, 3]), row(2, { failed: 1, timed_out: 1, cancelled: 1 }, [900, 900], [150, 150]), row(9, { succeeded: 5 })];
    const series = assembleSeries(rows, START, START + 2 * 5 * MIN + 30_000, 5 * MIN);
    expect(series.buckets.map((b) => Number(b.startTime!.seconds) * 1000 - START)).toEqual([0, 5 * MIN, 10 * MIN]);
    expect(durationToMs(series.bucketWidth!)).toBe(5 * MIN);
    expect(series.buckets.map((b) => [b.ended!.succeeded, b.ended!.failed, b.ended!.timedOut, b.ended!.cancelled])).toEqual([
      [2n, 0n, 0n, 0n],
      [0n, 0n, 0n, 0n],
      [0n, 1n, 1n, 1n],
    ]);
    expect(series.buckets[1].ended!.durationP50).toBeUndefined();
    expect(durationToMs(series.buckets[0].ended!.durationP99!)).toBe(50);
    expect(durationToMs(series.buckets[2].ended!.startLagP50!)).toBe(200);
    // Row 9 lies past the end: left out of the buckets and the total alike.
    expect(series.total).toMatchObject({ succeeded: 2n, failed: 1n, timedOut: 1n, cancelled: 1n, successRate: 0.5 });
    expect(series.total!.durationP99).toEqual(msToDuration(1000));
    expect(series.total!.startLagP50).toEqual(msToDuration(5));
  });
});
