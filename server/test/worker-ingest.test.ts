import { afterAll, beforeAll, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { createChimeClient, RunState, RunStatusUpdateSchema, type ChimeClient } from "@chime/sdk";
import { ingestUpdates } from "../src/runs/status-ingest.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { eventsOf, onlyRunOf } from "./helpers/worker-runs.js";

let server: TestServer;
let chime: ChimeClient;
beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});
afterAll(async () => server?.close());

async function queuedRun(name: string) {
  // No worker serves this queue: the run stays QUEUED until the test reports status itself.
  const job = await chime.createJob({ name, queue: "nobody", schedule: "immediate" });
  return onlyRunOf(chime, job.id);
}
const update = (runId: string, jobId: string, attempt: number, state: RunState, extra: { error?: string } = {}) =>
  create(RunStatusUpdateSchema, { runId, jobId, attempt, state, time: timestampFromDate(new Date()), workerId: "test", ...extra });

it("applies a run's updates in order within one batch, and fences by attempt", async () => {
  const run = await queuedRun("in-order");
  const u = (attempt: number, state: RunState, error = "") => update(run.id, run.jobId, attempt, state, { error });
  const { accepted, rejected } = await ingestUpdates(server.pool, [
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
  const after = await chime.getRun(run.id);
  expect(after.state).toBe(RunState.SUCCEEDED);
  expect(after.attempt).toBe(2);
  expect(after.error).toBe("boom");
  expect(after.attempts.map((a) => [a.attempt, a.state])).toEqual([
    [1, RunState.FAILED],
    [2, RunState.SUCCEEDED],
  ]);
  expect((await eventsOf(server.pool, run.id)).map((e) => [e.state, e.attempt])).toEqual([
    [RunState.QUEUED, 0],
    [RunState.RUNNING, 1],
    [RunState.RETRY_WAIT, 1],
    [RunState.RUNNING, 2],
    [RunState.SUCCEEDED, 2],
  ]);
});

it("accepts an end that overtook its own RUNNING (implied start) and then rejects the late RUNNING", async () => {
  const run = await queuedRun("overtaken");
  const first = await ingestUpdates(server.pool, [update(run.id, run.jobId, 1, RunState.SUCCEEDED)]);
  expect(first.accepted).toHaveLength(1);
  const late = await ingestUpdates(server.pool, [update(run.id, run.jobId, 1, RunState.RUNNING)]);
  expect(Object.fromEntries(late.rejected)).toEqual({ run_ended: 1 });
  const after = await chime.getRun(run.id);
  expect(after.state).toBe(RunState.SUCCEEDED);
  expect(after.attempts.map((a) => [a.attempt, a.state])).toEqual([[1, RunState.SUCCEEDED]]);
  expect((await eventsOf(server.pool, run.id)).map((e) => e.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]);
});

it("rejects updates of unknown runs and keeps going", async () => {
  const run = await queuedRun("mixed");
  const { accepted, rejected } = await ingestUpdates(server.pool, [
    update("00000000-0000-7000-8000-000000000000", run.jobId, 1, RunState.RUNNING),
    update(run.id, run.jobId, 1, RunState.RUNNING),
  ]);
  expect(accepted).toHaveLength(1);
  expect(Object.fromEntries(rejected)).toEqual({ unknown_run: 1 });
  expect((await chime.getRun(run.id)).state).toBe(RunState.RUNNING);
});
