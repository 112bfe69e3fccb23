import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createChimeClient, RunState, type ChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { readWorkerLog, spawnWorker, type WorkerProcess } from "./helpers/worker-process.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

const QUEUE = "stale";
const ACK_WAIT_MS = 2000;
let server: TestServer;
let chime: ChimeClient;
let dir: string;
const workers: WorkerProcess[] = [];

beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  dir = mkdtempSync(join(tmpdir(), "chime-stale-"));
});
afterAll(async () => {
  for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGCONT");
  await Promise.all(workers.map((w) => w.kill()));
  await server?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

it("a worker resumed after a pause past its ack wait starts none of the deliveries it held meanwhile", async () => {
  const logFile = join(dir, "log.jsonl");
  const start = (workerId: string, concurrency: number) =>
    spawnWorker({ prefix: server.config.natsPrefix, queue: QUEUE, logFile, workerId, concurrency, ackWaitMs: ACK_WAIT_MS });
  // A holds 4 runs: 2 running and 2 waiting for a slot (prefetch = concurrency).
  const a = await start("A", 2);
  workers.push(a);
  const jobs = await Promise.all(
    Array.from({ length: 10 }, (_, i) =>
      chime.createJob({ name: `slow-${i}`, queue: QUEUE, schedule: "immediate", payload: { sleepMs: 1500 }, retry: { maxAttempts: 5, initialBackoff: "100ms" } }),
    ),
  );
  const runs = await Promise.all(jobs.map((j) => onlyRunOf(chime, j.id)));
  await waitFor("A to start 2 runs", () => readWorkerLog(logFile).filter((e) => e.workerId === "A").length === 2, { timeoutMs: 20_000 });
  process.kill(a.child.pid!, "SIGSTOP");
  const b = await start("B", 10);
  workers.push(b);
  // Past A's ack wait, B has every run A held, redelivered.
  await waitFor("B to start all 10 runs", () => new Set(readWorkerLog(logFile).filter((e) => e.workerId === "B" && e.event === "start").map((e) => e.runId)).size === 10, {
    timeoutMs: 20_000,
  });
  const resumedAt = Date.now();
  process.kill(a.child.pid!, "SIGCONT");

  const ended = await Promise.all(runs.map((r) => terminalRun(chime, r.id, 30_000)));
  expect(ended.map((r) => r.state)).toEqual(runs.map(() => RunState.SUCCEEDED));
  // Give A time to do what it would do with the deliveries it still held.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const log = readWorkerLog(logFile);
  expect(log.filter((e) => e.workerId === "A" && e.event === "start" && e.t >= resumedAt)).toEqual([]);
  expect(log.filter((e) => e.event === "start")).toHaveLength(12);
});
