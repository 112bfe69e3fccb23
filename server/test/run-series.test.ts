import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { ApiKeyRole, createChimeClient, RunState } from "@chime/sdk";
import type { GetRunSeriesResponse } from "@chime/sdk/gen/stats_service_pb";
import { durationToMs } from "../src/util/time.js";
import { codeOf } from "./helpers/error-code.js";
import { databaseMinute, writePastEnds, type PastEnd } from "./helpers/rollup-history.js";
import { startTestServer, useTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const MIN = 60_000;
const HOUR = 60 * MIN;

const fixture = useTestServer({ CHIME_BACKGROUND_INTERVAL_MS: "100" });

const ms = (t: { seconds: bigint; nanos: number } | undefined) => (t ? Number(t.seconds) * 1000 + t.nanos / 1e6 : NaN);
/** The bucket that starts at `at` (ms), by its start time. */
const bucketAt = (series: GetRunSeriesResponse, at: number) => series.buckets.find((b) => ms(b.startTime) === at);
const counts = (series: GetRunSeriesResponse, at: number) => {
  const ended = bucketAt(series, at)?.ended;
  return ended && [ended.succeeded, ended.failed, ended.timedOut, ended.cancelled].map(Number);
};

describe("StatsService.GetRunSeries", () => {
  /** The minute Postgres was in when the history was written. */
  let now = 0;
  beforeAll(async () => {
    now = await databaseMinute(fixture.server.pool);
    const at = (minutesAgo: number, seconds = 10) => new Date(now - minutesAgo * MIN + seconds * 1000);
    const ends: PastEnd[] = [
      // 2 minutes ago: two quick successes and one slow failure, in queue a of "default".
      { queue: "series-a", state: RunState.SUCCEEDED, end: at(2), durationMs: 40, lagMs: 3 },
      { queue: "series-a", state: RunState.SUCCEEDED, end: at(2, 20), durationMs: 40, lagMs: 3 },
      { queue: "series-a", state: RunState.FAILED, end: at(2, 30), durationMs: 900, lagMs: 150 },
      // 7 minutes ago: a timeout in queue a, a cancel that never started in queue b.
      { queue: "series-a", state: RunState.TIMED_OUT, end: at(7), durationMs: 4000, lagMs: 1 },
      { queue: "series-b", state: RunState.CANCELLED, end: at(7) },
      // 7 minutes ago in namespace team-a, queue b.
      { queue: "series-b", namespace: "team-a", state: RunState.SUCCEEDED, end: at(7), durationMs: 5, lagMs: 1 },
      { queue: "series-b", namespace: "team-a", state: RunState.SUCCEEDED, end: at(7, 40), durationMs: 5, lagMs: 1 },
      // 70 minutes ago: outside the default hour.
      { queue: "series-a", state: RunState.SUCCEEDED, end: at(70), durationMs: 10, lagMs: 1 },
    ];
    await writePastEnds(fixture.server.pool, ends);
  });

  it("counts each minute's run ends in its bucket, every other minute of the hour a zero bucket", async () => {
    const series = await fixture.chime.statsService.getRunSeries({});
    expect(durationToMs(series.bucketWidth!)).toBe(MIN);
    const start = ms(series.windowStart);
    // The minute now - 1 h through the one now is in, oldest first, one minute apart.
    expect(start % MIN).toBe(0);
    expect(ms(series.windowEnd) - start).toBeGreaterThanOrEqual(HOUR);
    expect(series.buckets).toHaveLength(61);
    expect(series.buckets.map((b) => ms(b.startTime) - start)).toEqual(Array.from({ length: 61 }, (_, i) => i * MIN));
    expect(counts(series, now - 2 * MIN)).toEqual([2, 1, 0, 0]);
    expect(counts(series, now - 7 * MIN)).toEqual([2, 0, 1, 1]);
    const others = series.buckets.filter((b) => ![now - 2 * MIN, now - 7 * MIN].includes(ms(b.startTime)));
    expect(others).toHaveLength(59);
    for (const b of others) {
      expect([b.ended!.succeeded, b.ended!.failed, b.ended!.timedOut, b.ended!.cancelled]).toEqual([0n, 0n, 0n, 0n]);
      expect(b.ended!.startLagP99).toBeUndefined();
    }
    // The hour's total leaves out the run 70 minutes ago.
    expect(series.total).toMatchObject({ succeeded: 4n, failed: 1n, timedOut: 1n, cancelled: 1n });
    expect(series.total!.successRate).toBeCloseTo(4 / 6);
  });

  it("gives each bucket's percentiles from the histograms, as bucket bounds", async () => {
    const series = await fixture.chime.statsService.getRunSeries({ queue: "series-a" });
    const twoAgo = bucketAt(series, now - 2 * MIN)!.ended!;
    // 40, 40, 900 ms: the median in the (20, 50] bucket, the 99th in (500, 1000].
    expect([durationToMs(twoAgo.durationP50!), durationToMs(twoAgo.durationP99!)]).toEqual([50, 1000]);
    // Lags 3, 3, 150 ms.
    expect([durationToMs(twoAgo.startLagP50!), durationToMs(twoAgo.startLagP99!)]).toEqual([5, 200]);
    const sevenAgo = bucketAt(series, now - 7 * MIN)!.ended!;
    expect([durationToMs(sevenAgo.durationP50!), durationToMs(sevenAgo.startLagP99!)]).toEqual([5000, 1]);
  });

  it("filters by queue and by namespace", async () => {
    const stats = fixture.chime.statsService;
    const b = await stats.getRunSeries({ queue: "series-b" });
    expect(counts(b, now - 7 * MIN)).toEqual([2, 0, 0, 1]);
    expect(counts(b, now - 2 * MIN)).toEqual([0, 0, 0, 0]);
    const teamA = await stats.getRunSeries({ namespace: "team-a" });
    expect(counts(teamA, now - 7 * MIN)).toEqual([2, 0, 0, 0]);
    expect(teamA.total).toMatchObject({ succeeded: 2n, failed: 0n, timedOut: 0n, cancelled: 0n, successRate: 1 });
    const both = await stats.getRunSeries({ namespace: "default", queue: "series-b" });
    expect(both.total).toMatchObject({ succeeded: 0n, cancelled: 1n });
    const nobody = await stats.getRunSeries({ namespace: "nobody" });
    expect(nobody.buckets).toHaveLength(61);
    expect(nobody.total).toMatchObject({ succeeded: 0n, failed: 0n, successRate: 0 });
    expect(nobody.total!.durationP50).toBeUndefined();
  });

  it("takes a bucket width, and picks one of about 60 buckets from a longer window, on multiples of the width", async () => {
    const stats = fixture.chime.statsService;
    const fives = await stats.getRunSeries({ bucketWidth: { seconds: 300n } });
    expect(durationToMs(fives.bucketWidth!)).toBe(5 * MIN);
    expect(ms(fives.windowStart) % (5 * MIN)).toBe(0);
    expect(fives.buckets.length).toBeGreaterThanOrEqual(12);
    expect(fives.buckets.length).toBeLessThanOrEqual(13);
    // Each run lands in the bucket its minute falls in.
    const of = (minute: number) => Math.floor(minute / (5 * MIN)) * 5 * MIN;
    expect(counts(fives, of(now - 2 * MIN))?.[0]).toBeGreaterThanOrEqual(2);
    expect(fives.total).toMatchObject({ succeeded: 4n, failed: 1n, timedOut: 1n, cancelled: 1n });

    const twoHours = await stats.getRunSeries({ window: { seconds: 7200n } });
    expect(durationToMs(twoHours.bucketWidth!)).toBe(2 * MIN);
    expect(twoHours.total).toMatchObject({ succeeded: 5n });

    const week = await stats.getRunSeries({ window: { seconds: BigInt(7 * 24 * 3600) } });
    const width = durationToMs(week.bucketWidth!);
    expect(width).toBe(3 * HOUR);
    expect(ms(week.windowStart) % width).toBe(0);
    expect(week.buckets).toHaveLength(Math.floor((ms(week.windowEnd) - ms(week.windowStart)) / width) + 1);
    expect(week.buckets.every((b, i) => ms(b.startTime) === ms(week.windowStart) + i * width)).toBe(true);
    expect(week.total).toMatchObject({ succeeded: 5n, failed: 1n, timedOut: 1n, cancelled: 1n });
  });

  it("counts what the rollup writes of real run ends", async () => {
    const job = await fixture.chime.createJob({ name: "series-real", queue: "series-real", schedule: { every: "1h" } });
    // No worker: the run waits queued and is cancelled, an end the rollup counts.
    const run = await fixture.chime.triggerJob(job.id);
    await fixture.chime.cancelRun(run.id);
    const series = await waitFor("the rollup to count the cancel", async () => {
      const answer = await fixture.chime.statsService.getRunSeries({ queue: "series-real", window: { seconds: 300n } });
      return answer.total!.cancelled === 1n ? answer : undefined;
    });
    expect(series.buckets.filter((b) => b.ended!.cancelled === 1n)).toHaveLength(1);
  });

  it("refuses bad requests with INVALID_ARGUMENT naming the field", async () => {
    const stats = fixture.chime.statsService;
    const problem = async (call: Promise<unknown>) => {
      const error = ConnectError.from(await call.then(() => undefined, (e: unknown) => e));
      return [Code[error.code], error.rawMessage];
    };
    expect(await problem(stats.getRunSeries({ window: { seconds: 30n } }))).toEqual(["InvalidArgument", "window: expected 60s to 31 days"]);
    expect(await problem(stats.getRunSeries({ window: { seconds: 32n * 86_400n } }))).toEqual(["InvalidArgument", "window: expected 60s to 31 days"]);
    expect(await problem(stats.getRunSeries({ queue: "no spaces" }))).toEqual(["InvalidArgument", "queue: expected 1-64 letters, digits, _ or -"]);
    expect((await problem(stats.getRunSeries({ namespace: "bad ns" })))[1]).toMatch(/^namespace: "bad ns" is not a namespace/);
    expect(await problem(stats.getRunSeries({ bucketWidth: { seconds: 90n } }))).toEqual(["InvalidArgument", "bucket_width: expected whole minutes, at least 1 min"]);
    expect(await problem(stats.getRunSeries({ bucketWidth: { seconds: 7200n } }))).toEqual(["InvalidArgument", "bucket_width: expected at most the window"]);
    expect(await problem(stats.getRunSeries({ window: { seconds: 2n * 86_400n }, bucketWidth: { seconds: 60n } }))).toEqual([
      "InvalidArgument",
      "bucket_width: expected at least 2 min for this window (at most 1440 buckets)",
    ]);
  });
});

describe("GetRunSeries with keys", () => {
  const ROOT = "run-series-root-token";
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startTestServer({ CHIME_ROLES: "api", CHIME_API_TOKEN: ROOT });
  });
  afterAll(async () => secured?.close());

  it("gives a namespace's key its own namespace's figures only; naming another is PERMISSION_DENIED", async () => {
    const now = await databaseMinute(secured.pool);
    const end = new Date(now - 3 * MIN + 10_000);
    await writePastEnds(secured.pool, [
      { queue: "keyed", namespace: "team-a", state: RunState.SUCCEEDED, end, durationMs: 5, lagMs: 1 },
      { queue: "keyed", state: RunState.FAILED, end, durationMs: 5, lagMs: 1 },
      { queue: "keyed", namespace: "team-b", state: RunState.FAILED, end, durationMs: 5, lagMs: 1 },
    ]);
    const root = createChimeClient({ baseUrl: secured.grpcUrl, token: ROOT });
    const { secret } = await root.adminService.createApiKey({ name: "team reader", namespace: "team-a", role: ApiKeyRole.READER });
    const teamKey = createChimeClient({ baseUrl: secured.grpcUrl, token: secret });
    const own = await teamKey.statsService.getRunSeries({});
    expect(own.total).toMatchObject({ succeeded: 1n, failed: 0n });
    expect((await teamKey.statsService.getRunSeries({ namespace: "team-a", queue: "keyed" })).total).toMatchObject({ succeeded: 1n, failed: 0n });
    expect(await codeOf(teamKey.statsService.getRunSeries({ namespace: "team-b" }))).toBe(Code.PermissionDenied);
    expect(await codeOf(createChimeClient({ baseUrl: secured.grpcUrl }).statsService.getRunSeries({}))).toBe(Code.Unauthenticated);
    expect((await root.statsService.getRunSeries({})).total).toMatchObject({ succeeded: 1n, failed: 2n });
  });
});
