import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { createChimeClient, type ChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "./test-server.js";
import { spawnWorker, type WorkerProcess } from "./worker-process.js";

export interface WorkerTestbed {
  server: TestServer;
  chime: ChimeClient;
  /** The handler log every worker of the file appends to. */
  logFile: string;
  /** A worker child process of the queue, killed after the file's tests. */
  start(workerId: string, concurrency: number, ackWaitMs: number, maxDeliver?: number): Promise<WorkerProcess>;
}

/**
 * A server, a client, a temporary log and the worker processes of one test file, set up
 * before its tests and torn down after them (a paused worker is resumed to be killed).
 */
export function useWorkerTestbed(queue: string): WorkerTestbed {
  const workers: WorkerProcess[] = [];
  let dir = "";
  const bed = {
    start: async (workerId: string, concurrency: number, ackWaitMs: number, maxDeliver?: number) => {
      const worker = await spawnWorker({ prefix: bed.server.config.natsPrefix, queue, logFile: bed.logFile, workerId, concurrency, ackWaitMs, maxDeliver });
      workers.push(worker);
      return worker;
    },
  } as WorkerTestbed;
  beforeAll(async () => {
    bed.server = await startTestServer();
    bed.chime = createChimeClient({ baseUrl: bed.server.grpcUrl });
    dir = mkdtempSync(join(tmpdir(), `chime-${queue}-`));
    bed.logFile = join(dir, "log.jsonl");
  });
  afterAll(async () => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill("SIGCONT");
    await Promise.all(workers.map((w) => w.kill()));
    await bed.server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return bed;
}
