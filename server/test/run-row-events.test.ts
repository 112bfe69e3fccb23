import { expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { JobChangeKind, RunState, RunStatusUpdateSchema, type RunEvent } from "@chime/sdk";
import { ingestUpdates } from "../src/runs/status-ingest.js";
import { markDispatched } from "../src/runs/run-store.js";
import { useTestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { onlyRunOf } from "./helpers/worker-runs.js";

/**
 * A run's RUNNING and end events kept in its row (migration 0008): watchers see every
 * state change once, in order, across retries and lost attempts (whose events move to
 * run_events under their cursors), resume from any cursor, and a run that succeeds on its
 * first attempt writes no run_events row. Reports are ingested directly, in chosen batches.
 */

const fixture = useTestServer();

/** Runs on a queue of their own that no worker serves: they stay QUEUED until the test reports status. */
async function queuedRuns(queue: string, count: number) {
  const jobs = await Promise.all(
    Array.from({ length: count }, (_, i) => fixture.chime.createJob({ name: `${queue}-${i}`, queue, schedule: "immediate" })),
  );
  return Promise.all(jobs.map((job) => onlyRunOf(fixture.chime, job.id)));
}

const update = (run: { id: string; jobId: string }, attempt: number, state: RunState, error = "") =>
  create(RunStatusUpdateSchema, { runId: run.id, jobId: run.jobId, attempt, state, error, time: timestampFromDate(new Date()), workerId: "test" });

function collect(iterable: AsyncIterable<RunEvent>) {
  const events: RunEvent[] = [];
  const done = (async () => {
    for await (const event of iterable) events.push(event);
  })().catch((error: unknown) => error);
  return { events, done };
}

const key = (e: { runId?: string; run_id?: string; state: number; attempt: number }) => `${e.runId ?? e.run_id}/${RunState[e.state]}/${e.attempt}`;

async function log(jobIds: string[]) {
  const { rows } = await fixture.server.pool.query<{ at: string; run_id: string; state: number; attempt: number; error: string }>(
    "SELECT cursor::text AS at, run_id, state, attempt, error FROM run_event_log WHERE job_id = ANY($1::uuid[]) ORDER BY cursor",
    [jobIds],
  );
  return rows;
}

it("watchers see each state change once across a retry, a lost attempt and a cancelled wait, and resume from any cursor", async () => {
  const controller = new AbortController();
  const live = collect(fixture.chime.watchRuns({ queues: ["row-events"] }, { signal: controller.signal }));
  await waitFor("the stream to be registered", () => fixture.server.watch!.stats().subscribers === 1);
  const [retried, lost, single, cancelled] = await queuedRuns("row-events", 4);
  const jobIds = [retried, lost, single, cancelled].map((r) => r.jobId);

  // One transaction per batch, as the ingester has them.
  await ingestUpdates(fixture.server.pool, [update(retried, 1, RunState.RUNNING), update(lost, 1, RunState.RUNNING), update(cancelled, 1, RunState.RUNNING)]);
  await ingestUpdates(fixture.server.pool, [update(retried, 1, RunState.RETRY_WAIT, "boom"), update(cancelled, 1, RunState.RETRY_WAIT, "bang")]);
  await ingestUpdates(fixture.server.pool, [update(retried, 2, RunState.RUNNING), update(lost, 2, RunState.RUNNING), update(single, 1, RunState.SUCCEEDED)]);
  await ingestUpdates(fixture.server.pool, [update(retried, 2, RunState.SUCCEEDED), update(lost, 2, RunState.FAILED, "no")]);
  await fixture.chime.cancelRun(cancelled.id);

  const stored = await log(jobIds);
  const ofRun = (run: { id: string }) => stored.filter((e) => e.run_id === run.id).map((e) => [RunState[e.state], e.attempt]);
  expect(ofRun(retried)).toEqual([["QUEUED", 0], ["RUNNING", 1], ["RETRY_WAIT", 1], ["RUNNING", 2], ["SUCCEEDED", 2]]);
  expect(ofRun(lost)).toEqual([["QUEUED", 0], ["RUNNING", 1], ["RUNNING", 2], ["FAILED", 2]]);
  expect(ofRun(single)).toEqual([["QUEUED", 0], ["RUNNING", 1], ["SUCCEEDED", 1]]);
  expect(ofRun(cancelled)).toEqual([["QUEUED", 0], ["RUNNING", 1], ["RETRY_WAIT", 1], ["CANCELLED", 1]]);
  expect(stored.find((e) => e.run_id === cancelled.id && e.state === RunState.RETRY_WAIT)?.error).toBe("bang");
  expect(new Set(stored.map((e) => e.at)).size).toBe(stored.length);

  // Stored once: the superseded attempts' events (and the cancellation) in run_events, the rest in the rows.
  const { rows: moved } = await fixture.server.pool.query<{ run_id: string; state: number; attempt: number }>(
    "SELECT run_id, state, attempt FROM run_events WHERE job_id = ANY($1::uuid[]) ORDER BY cursor",
    [jobIds],
  );
  expect(moved.map(key).sort()).toEqual(
    [`${retried.id}/RUNNING/1`, `${retried.id}/RETRY_WAIT/1`, `${lost.id}/RUNNING/1`, `${cancelled.id}/RETRY_WAIT/1`, `${cancelled.id}/CANCELLED/1`].sort(),
  );

  await waitFor("every event live", () => live.events.length >= stored.length);
  await new Promise((resolve) => setTimeout(resolve, 200));
  expect(live.events.map(key)).toEqual(stored.map(key));

  // Resuming after any event replays exactly the rest.
  for (const index of [0, 3, 7, live.events.length - 2]) {
    const resumeController = new AbortController();
    const resumed = collect(fixture.chime.watchRuns({ jobIds }, { resumeToken: live.events[index].resumeToken, signal: resumeController.signal }));
    const rest = stored.slice(index + 1);
    await waitFor("the resumed stream to catch up", () => resumed.events.length >= rest.length);
    await new Promise((resolve) => setTimeout(resolve, 100));
    resumeController.abort();
    await resumed.done;
    expect(resumed.events.map(key)).toEqual(rest.map(key));
  }
  controller.abort();
  await live.done;
});

it("ingesters and dispatch records racing on the same runs in opposite orders never deadlock", async () => {
  const runs = await queuedRuns("race", 40);
  const reversed = [...runs].reverse();
  const now = new Date();
  // Each side touches every run; all three transactions overlap on every row.
  const results = await Promise.allSettled([
    ingestUpdates(fixture.server.pool, runs.map((run) => update(run, 1, RunState.RUNNING))),
    ingestUpdates(fixture.server.pool, reversed.map((run) => update(run, 1, RunState.SUCCEEDED))),
    markDispatched(fixture.server.pool, reversed.map((run) => ({ id: run.id, ackedAt: now }))),
    markDispatched(fixture.server.pool, runs.map((run) => ({ id: run.id, ackedAt: now }))),
  ]);
  expect(results.filter((r) => r.status === "rejected")).toEqual([]);
  for (const run of runs) {
    const after = await fixture.chime.getRun(run.id);
    expect(after.state).toBe(RunState.SUCCEEDED);
    expect(after.dispatchTime).toBeDefined();
  }
  // Whichever ingester went first, each run has its events once, in order.
  const stored = await log(runs.map((r) => r.jobId));
  for (const run of runs) {
    expect(stored.filter((e) => e.run_id === run.id).map((e) => RunState[e.state])).toEqual(["QUEUED", "RUNNING", "SUCCEEDED"]);
  }
});

it("a one-off job's COMPLETED event lives in its row, and moves to job_events under its cursor and time when the job changes", async () => {
  const [run] = await queuedRuns("completed-row", 1);
  const events = async () =>
    (
      await fixture.server.pool.query<{ at: string; kind: number; time: Date }>(
        "SELECT cursor::text AS at, kind, time FROM job_event_log WHERE job_id = $1 ORDER BY cursor",
        [run.jobId],
      )
    ).rows;
  const completed = await waitFor("the COMPLETED event", async () => ((await events()).length === 1 ? await events() : undefined));
  expect(completed.map((e) => JobChangeKind[e.kind])).toEqual(["COMPLETED"]);
  const inTable = async () => (await fixture.server.pool.query("SELECT cursor::text AS at FROM job_events WHERE job_id = $1", [run.jobId])).rows;
  expect(await inTable()).toEqual([]);

  // Rescheduled, the job fires and completes again: the first COMPLETED moved out, the second in the row.
  await fixture.chime.updateJob(run.jobId, { schedule: { at: new Date(Date.now() + 300) } });
  const again = await waitFor("the second COMPLETED", async () => {
    const rows = await events();
    return rows.length === 3 ? rows : undefined;
  });
  expect(again.map((e) => JobChangeKind[e.kind])).toEqual(["COMPLETED", "UPDATED", "COMPLETED"]);
  expect((await inTable()).map((r) => r.at)).toEqual(again.slice(0, 2).map((e) => e.at));

  await fixture.chime.deleteJob(run.jobId);
  const after = await events();
  expect(after.map((e) => JobChangeKind[e.kind])).toEqual(["COMPLETED", "UPDATED", "COMPLETED", "DELETED"]);
  // The same events: same cursors, same times; now job_events rows, each shown once.
  expect(after.slice(0, 3)).toEqual(again);
  expect(after[0]).toEqual(completed[0]);
  expect((await inTable()).map((r) => r.at)).toEqual(after.map((e) => e.at));
});
