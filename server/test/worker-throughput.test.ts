import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createChimeClient, RunState, type ChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { readWorkerLog, spawnWorker, type WorkerProcess } from "./helpers/worker-process.js";

/** Runs pushed through the workers (CHIME_TEST_BULK_RUNS overrides, e.g. for a bigger measurement). */
const RUNS = Number(process.env.CHIME_TEST_BULK_RUNS ?? 10_000);

let server: TestServer;
let chime: ChimeClient;
let dir: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startTestServer({ CHIME_DISPATCH_BATCH: "2000" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  dir = mkdtempSync(join(tmpdir(), "chime-bulk-"));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs `work` for 0..count-1 with at most `parallel` at once. */
async function inParallel(count: number, parallel: number, work: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < count) await work(next++);
    }),
  );
}

it(`runs ${RUNS} runs through SDK workers in two processes, each to exactly one terminal state`, async () => {
  const logFile = join(dir, "invocations.jsonl");
  for (const id of ["w1", "w2"]) {
    workers.push(await spawnWorker({ prefix: server.config.natsPrefix, queue: "bulk", logFile, workerId: id, concurrency: 64 }));
  }
  const started = Date.now();
  await inParallel(RUNS, 64, (i) => chime.createJob({ name: `bulk-${i}`, queue: "bulk", schedule: "immediate" }));
  const created = Date.now();
  const count = async (state: RunState) =>
    (await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE state = $1", [state])).rows[0].n;
  await waitFor("every run to succeed", async () => (await count(RunState.SUCCEEDED)) === RUNS, { timeoutMs: 240_000, intervalMs: 250 });
  const finished = Date.now();

  // Run rows: every run ended SUCCEEDED on its first attempt, with one attempt in its history.
  const { rows: runs } = await server.pool.query<{ id: string; state: number; attempt: number; attempts: { workerId: string }[]; output: { workerId: string } }>(
    "SELECT id, state, attempt, attempts, output FROM runs",
  );
  expect(runs).toHaveLength(RUNS);
  // Run events: per run exactly QUEUED, RUNNING, SUCCEEDED, in this order of cursor.
  const { rows: events } = await server.pool.query<{ run_id: string; states: number[] }>(
    "SELECT run_id, array_agg(state ORDER BY cursor) AS states FROM run_event_log GROUP BY run_id",
  );
  const eventsByRun = new Map(events.map((e) => [e.run_id, e.states]));
  // Handler invocations, as the worker processes recorded them.
  const invocations = new Map<string, string[]>();
  for (const e of readWorkerLog(logFile)) {
    if (e.event === "start") invocations.set(e.runId, [...(invocations.get(e.runId) ?? []), e.workerId]);
  }
  let mismatches = 0;
  for (const run of runs) {
    const ok =
      run.state === RunState.SUCCEEDED &&
      run.attempt === 1 &&
      run.attempts.length === 1 &&
      JSON.stringify(eventsByRun.get(run.id)) === JSON.stringify([RunState.QUEUED, RunState.RUNNING, RunState.SUCCEEDED]) &&
      invocations.get(run.id)?.length === 1 &&
      invocations.get(run.id)![0] === run.attempts[0].workerId &&
      run.output.workerId === run.attempts[0].workerId;
    if (!ok) mismatches++;
  }
  expect(mismatches).toBe(0);
  expect(invocations.size).toBe(RUNS);
  const perWorker = { w1: 0, w2: 0 } as Record<string, number>;
  for (const [, ids] of invocations) perWorker[ids[0]]++;
  expect(perWorker.w1).toBeGreaterThan(0);
  expect(perWorker.w2).toBeGreaterThan(0);
  const eventCount = events.reduce((n, e) => n + e.states.length, 0);
  expect(eventCount).toBe(RUNS * 3);
  const total = (finished - started) / 1000;
  console.log(
    `[throughput] ${RUNS} runs: created in ${((created - started) / 1000).toFixed(1)} s, all SUCCEEDED ${total.toFixed(1)} s after the first create ` +
      `(${Math.round(RUNS / total)} runs/s end to end); handled by w1=${perWorker.w1}, w2=${perWorker.w2}; ` +
      `${eventCount} run events (3 per run)`,
  );
});
