import { afterAll, beforeAll, expect, it } from "vitest";
import { createChimeClient, RunState, Worker, type ChimeClient } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { terminalRun } from "./helpers/worker-runs.js";
import { cancelWrittenAheadRunsOfJob } from "../src/runs/run-store.js";

let server: TestServer;
let chime: ChimeClient;
let worker: Worker;
const started = new Set<string>();

beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  worker = new Worker({
    natsUrl: TEST_NATS_URL,
    prefix: server.config.natsPrefix,
    queue: "pause-race",
    handler: (run) => {
      started.add(run.runId);
    },
  });
  await worker.start();
});
afterAll(async () => {
  await worker?.stop(500);
  await server?.close();
});

it("PauseJob does not cancel a written-ahead run that fell due (and ran) while the pause's transaction was open", async () => {
  const job = await chime.createJob({ name: "per-second", queue: "pause-race", schedule: { cron: "* * * * * *" } });
  // The leader writes the next fire ahead of its time (CHIME_DISPATCH_LOOKAHEAD_MS).
  const ahead = await waitFor("a run written ahead", async () => {
    const { rows } = await server.pool.query<{ id: string }>(
      "SELECT id FROM runs WHERE job_id = $1 AND state = $2 AND dispatch_time IS NULL AND scheduled_time > clock_timestamp() + interval '300 milliseconds'",
      [job.id, RunState.QUEUED],
    );
    return rows[0]?.id;
  });
  // The pause's transaction began before the run's time (a PauseJob waiting for the job's
  // row behind a dispatch pass) and cancels after it, when the leader has published the run.
  const pausing = await server.pool.connect();
  let cancelled: string[];
  try {
    await pausing.query("BEGIN");
    await pausing.query("SELECT now()");
    await waitFor("the run to fall due and start", () => started.has(ahead), { timeoutMs: 10_000 });
    cancelled = await cancelWrittenAheadRunsOfJob(pausing, job.id);
    await pausing.query("COMMIT");
  } finally {
    pausing.release();
  }
  expect(cancelled).not.toContain(ahead);
  // The run that ran is recorded as run, not as cancelled.
  const run = await terminalRun(chime, ahead);
  expect(run.state).toBe(RunState.SUCCEEDED);
  // And no run cancelled by the pause had its handler started.
  const { rows } = await server.pool.query<{ id: string }>("SELECT id FROM runs WHERE job_id = $1 AND state = $2", [job.id, RunState.CANCELLED]);
  expect(rows.map((r) => r.id).filter((id) => started.has(id))).toEqual([]);
});
