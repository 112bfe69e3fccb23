import { expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { RunState, RunStatusUpdateSchema, Worker } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { ingestUpdates } from "../src/runs/status-ingest.js";
import { useTestServer } from "./helpers/test-server.js";
import { readMetric } from "./helpers/metrics.js";
import { eventsOf, onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

const fixture = useTestServer();

async function queuedRun(name: string) {
  // No worker serves this queue: the run stays QUEUED until the test reports status itself.
  const job = await fixture.chime.createJob({ name, queue: "nobody", schedule: "immediate" });
  return onlyRunOf(fixture.chime, job.id);
}
const update = (runId: string, jobId: string, attempt: number, state: RunState, extra: { error?: string; startTime?: Date } = {}) =>
  create(RunStatusUpdateSchema, {
    runId,
    jobId,
    attempt,
    state,
    time: timestampFromDate(new Date()),
    workerId: "test",
    error: extra.error,
    startTime: extra.startTime && timestampFromDate(extra.startTime),
  });

async function eventTimes(runId: string) {
  const { rows } = await fixture.server.pool.query<{ state: number; time: Date }>("SELECT state, time FROM run_event_log WHERE run_id = $1 ORDER BY cursor", [runId]);
  return rows;
}

it("applies a run's updates in order within one batch, and fences by attempt", async () => {
  const run = await queuedRun("in-order");
  const u = (attempt: number, state: RunState, error = "") => update(run.id, run.jobId, attempt, state, { error });
  const { accepted, rejected } = await ingestUpdates(fixture.server.pool, [
    u(1, RunState.RUNNING),
    u(1, RunState.RETRY_WAIT, "boom"),
    u(1, RunState.RUNNING), // a duplicate of attempt 1's start
    u(2, RunState.RUNNING),
    u(1, RunState.FAILED, "late"), // from the superseded attempt
    u(2, RunState.SUCCEEDED),
    u(2, RunState.FAILED, "after the end"),
  ]);
  expect(accepted).toHaveLength(4);
  expect(Object.fromEntries(rejected)).toEqual({ stale_attempt: 2, run_ended: 1 });
  const after = await fixture.chime.getRun(run.id);
  expect(after.state).toBe(RunState.SUCCEEDED);
  expect(after.attempt).toBe(2);
  // A run that succeeded on a retry has no error of its own; the failed attempt keeps its.
  expect(after.error).toBe("");
  expect(after.attempts.map((a) => [a.attempt, a.state, a.error])).toEqual([
    [1, RunState.FAILED, "boom"],
    [2, RunState.SUCCEEDED, ""],
  ]);
  expect((await eventsOf(fixture.server.pool, run.id)).map((e) => [e.state, e.attempt])).toEqual([
    [RunState.QUEUED, 0],
    [RunState.RUNNING, 1],
    [RunState.RETRY_WAIT, 1],
    [RunState.RUNNING, 2],
    [RunState.SUCCEEDED, 2],
  ]);
});

it("accepts an end that overtook its own RUNNING (implied start) and then rejects the late RUNNING", async () => {
  const run = await queuedRun("overtaken");
  const first = await ingestUpdates(fixture.server.pool, [update(run.id, run.jobId, 1, RunState.SUCCEEDED)]);
  expect(first.accepted).toHaveLength(1);
  const late = await ingestUpdates(fixture.server.pool, [update(run.id, run.jobId, 1, RunState.RUNNING)]);
  expect(Object.fromEntries(late.rejected)).toEqual({ run_ended: 1 });
  const after = await fixture.chime.getRun(run.id);
  expect(after.state).toBe(RunState.SUCCEEDED);
  expect(after.attempts.map((a) => [a.attempt, a.state])).toEqual([[1, RunState.SUCCEEDED]]);
  expect((await eventsOf(fixture.server.pool, run.id)).map((e) => e.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]);
});

it("rejects updates of unknown runs and keeps going", async () => {
  const run = await queuedRun("mixed");
  const { accepted, rejected } = await ingestUpdates(fixture.server.pool, [
    update("00000000-0000-7000-8000-000000000000", run.jobId, 1, RunState.RUNNING),
    update(run.id, run.jobId, 1, RunState.RUNNING),
  ]);
  expect(accepted).toHaveLength(1);
  expect(Object.fromEntries(rejected)).toEqual({ unknown_run: 1 });
  expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.RUNNING);
});

it("refuses an update whose events subject names another namespace than its run's job, in the same batch as ones it accepts", async () => {
  const run = await queuedRun("claimed-namespace");
  const other = await queuedRun("claimed-namespace-2");
  const { accepted, rejected } = await ingestUpdates(
    fixture.server.pool,
    [
      update(run.id, run.jobId, 1, RunState.SUCCEEDED), // from team-b's subject: the run is in "default"
      update(other.id, other.jobId, 1, RunState.RUNNING), // from "default"'s subject
      update(other.id, other.jobId, 1, RunState.SUCCEEDED), // from a subject of every namespace
    ],
    undefined,
    ["team-b", "default", undefined],
  );
  expect(accepted).toHaveLength(2);
  expect(Object.fromEntries(rejected)).toEqual({ wrong_namespace: 1 });
  expect((await fixture.chime.getRun(run.id)).state).toBe(RunState.QUEUED);
  expect((await fixture.chime.getRun(other.id)).state).toBe(RunState.SUCCEEDED);
});

it("takes an implied start from the ending update's start_time", async () => {
  const run = await queuedRun("start-time");
  const startedAt = new Date(Date.now() - 2000);
  const { accepted } = await ingestUpdates(fixture.server.pool, [update(run.id, run.jobId, 1, RunState.SUCCEEDED, { startTime: startedAt })]);
  expect(accepted).toHaveLength(1);
  const after = await fixture.chime.getRun(run.id);
  expect(timestampDate(after.startTime!).getTime()).toBe(startedAt.getTime());
  expect(timestampDate(after.attempts[0].startTime!).getTime()).toBe(startedAt.getTime());
  expect(timestampDate(after.endTime!).getTime()).toBeGreaterThan(startedAt.getTime());
  const events = await eventTimes(run.id);
  expect(events.map((e) => e.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]);
  expect(events[1].time.getTime()).toBe(startedAt.getTime());
});

it("a Worker reports a quick attempt with one update that carries its start, a slow one with two", async () => {
  const queue = "fold";
  const worker = new Worker({
    natsUrl: TEST_NATS_URL,
    prefix: fixture.server.config.natsPrefix,
    queue,
    concurrency: 20,
    statusFlushMs: 50,
    handler: async (run) => {
      if ((run.payload as { slow?: boolean }).slow) await new Promise((resolve) => setTimeout(resolve, 300));
      return {};
    },
  });
  await worker.start();
  try {
    const runningBefore = await readMetric(fixture.server.httpUrl, "chime_status_updates_ingested_total", { state: "RUNNING" });
    const quick = await Promise.all(
      Array.from({ length: 10 }, (_, i) => fixture.chime.createJob({ name: `fold-quick-${i}`, queue, schedule: "immediate" })),
    );
    const slow = await fixture.chime.createJob({ name: "fold-slow", queue, schedule: "immediate", payload: { slow: true } });
    const ended = await Promise.all([...quick, slow].map(async (job) => terminalRun(fixture.chime, (await onlyRunOf(fixture.chime, job.id)).id)));
    for (const run of ended) {
      expect(run.state).toBe(RunState.SUCCEEDED);
      const started = timestampDate(run.startTime!).getTime();
      expect(started).toBe(timestampDate(run.attempts[0].startTime!).getTime());
      expect(started).toBeLessThanOrEqual(timestampDate(run.endTime!).getTime());
      expect((await eventsOf(fixture.server.pool, run.id)).map((e) => e.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]);
    }
    const slowRun = ended[ended.length - 1];
    expect(timestampDate(slowRun.endTime!).getTime() - timestampDate(slowRun.startTime!).getTime()).toBeGreaterThanOrEqual(250);
    // The slow attempt's RUNNING went out on its own (its batch left 50 ms after it); the quick
    // ones ended within their RUNNING's flush window, so most of those were left out.
    const runningIngested = (await readMetric(fixture.server.httpUrl, "chime_status_updates_ingested_total", { state: "RUNNING" })) - runningBefore;
    expect(runningIngested).toBeGreaterThanOrEqual(1);
    expect(runningIngested).toBeLessThan(11);
  } finally {
    await worker.stop(1000);
  }
});
