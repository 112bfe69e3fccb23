import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { jetstream } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createChimeClient, natsLayout, RunState, RunStatusBatchSchema, type ChimeClient } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { readWorkerLog, spawnWorker, type WorkerProcess } from "./helpers/worker-process.js";
import { readMetric } from "./helpers/metrics.js";
import { eventsOf, onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

const QUEUE = "failover";
const ACK_WAIT_MS = 2000;
let server: TestServer;
let chime: ChimeClient;
let dir: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  dir = mkdtempSync(join(tmpdir(), "chime-failover-"));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.kill()));
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("redelivers the runs of a worker killed with SIGKILL to another worker, losing none, and rejects the dead attempt's late status", async () => {
  const logFile = join(dir, "log.jsonl");
  const start = (workerId: string) =>
    spawnWorker({ prefix: server.config.natsPrefix, queue: QUEUE, logFile, workerId, concurrency: 32, ackWaitMs: ACK_WAIT_MS });
  const a = await start("A");
  workers.push(a);
  const jobs = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      chime.createJob({
        name: `slow-${i}`,
        queue: QUEUE,
        schedule: "immediate",
        payload: { sleepMs: 2500 },
        retry: { maxAttempts: i === 0 ? 1 : 3, initialBackoff: "100ms" },
      }),
    ),
  );
  const runs = await Promise.all(jobs.map((j) => onlyRunOf(chime, j.id)));
  const lastAttemptRun = runs[0].id;
  await waitFor("worker A to start every run", () => new Set(readWorkerLog(logFile).map((e) => e.runId)).size === 20, { timeoutMs: 20_000 });
  await waitFor("every run RUNNING in Postgres", async () => {
    const { rows } = await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE state = $1 AND attempt = 1", [RunState.RUNNING]);
    return rows[0].n === 20;
  });
  const b = await start("B");
  workers.push(b);
  const killedAt = Date.now();
  await a.kill();

  // While B runs attempt 2 of a run, a status update from A's attempt 1 arrives late.
  const victim = runs[1].id;
  await waitFor("B to start attempt 2 of a run", () => readWorkerLog(logFile).some((e) => e.runId === victim && e.workerId === "B" && e.attempt === 2), { timeoutMs: 15_000 });
  await waitFor("attempt 2 to be RUNNING in Postgres", async () => (await chime.getRun(victim)).attempt === 2);
  const rejectedBefore = await readMetric(server.httpUrl, "chime_status_updates_rejected_total", { reason: "stale_attempt" });
  const nc = await connect({ servers: TEST_NATS_URL });
  try {
    const stale = create(RunStatusBatchSchema, {
      updates: [{ runId: victim, jobId: runs[1].jobId, attempt: 1, state: RunState.FAILED, error: "late news from a dead worker", time: timestampFromDate(new Date()), workerId: "A" }],
    });
    await jetstream(nc).publish(natsLayout(server.config.natsPrefix).eventSubject(undefined, QUEUE), toBinary(RunStatusBatchSchema, stale));
  } finally {
    await nc.close();
  }
  await waitFor("the stale update to be rejected", async () =>
    (await readMetric(server.httpUrl, "chime_status_updates_rejected_total", { reason: "stale_attempt" })) === rejectedBefore + 1,
  );
  const during = await chime.getRun(victim);
  expect(during.state).toBe(RunState.RUNNING);
  expect(during.attempt).toBe(2);

  // Every run ends; none is lost.
  const ended = await Promise.all(runs.map((r) => terminalRun(chime, r.id, 30_000)));
  const recoveredIn = (Date.now() - killedAt) / 1000;
  for (const run of ended.filter((r) => r.id !== lastAttemptRun)) {
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.attempt).toBe(2);
    expect(run.output).toEqual({ workerId: "B", attempt: 2 });
    expect(run.attempts.map((x) => [x.attempt, x.state, x.workerId])).toEqual([
      [1, RunState.FAILED, "A"],
      [2, RunState.SUCCEEDED, "B"],
    ]);
    expect(run.attempts[0].error).toMatch(/lost: no heartbeat from worker A/);
  }
  // The late FAILED(1) changed nothing.
  expect((await eventsOf(server.pool, victim)).map((e) => [e.state, e.attempt])).toEqual([
    [RunState.QUEUED, 0],
    [RunState.RUNNING, 1],
    [RunState.RUNNING, 2],
    [RunState.SUCCEEDED, 2],
  ]);
  // The run whose lost attempt was its last allowed one fails, saying so.
  const last = ended.find((r) => r.id === lastAttemptRun)!;
  expect(last.state).toBe(RunState.FAILED);
  expect(last.error).toMatch(/attempt 1 was lost .* max_attempts \(1\) is reached/);
  // B ran each redelivered run once; A's handlers all started, none finished.
  const log = readWorkerLog(logFile);
  expect(log.filter((e) => e.workerId === "B" && e.event === "start").map((e) => e.runId).sort()).toEqual(
    runs.filter((r) => r.id !== lastAttemptRun).map((r) => r.id).sort(),
  );
  console.log(`[failover] 20 runs of a SIGKILLed worker ended ${recoveredIn.toFixed(1)} s after the kill (ack wait ${ACK_WAIT_MS} ms, handler 2.5 s)`);
});
