import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { createChimeClient, natsLayout, RunCancelledError, RunState, Worker, type ChimeClient, type WorkerRun } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { eventsOf, onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

let server: TestServer;
let chime: ChimeClient;
const workers: Worker[] = [];

interface Call {
  runId: string;
  startedAt: number;
  abortedAt?: number;
  reason?: unknown;
}
const calls = new Map<string, Call>();

/** Waits for its signal, recording when it aborted and why. */
async function hang(run: WorkerRun, { signal }: { signal: AbortSignal }) {
  const call: Call = { runId: run.runId, startedAt: Date.now() };
  calls.set(run.runId, call);
  await new Promise((_, reject) =>
    signal.addEventListener("abort", () => {
      call.abortedAt = Date.now();
      call.reason = signal.reason;
      reject(signal.reason);
    }),
  );
}

async function startWorker(queue: string, concurrency = 8): Promise<Worker> {
  const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: server.config.natsPrefix, queue, concurrency, handler: hang });
  await worker.start();
  workers.push(worker);
  return worker;
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(500)));
  await server?.close();
});

describe("cancellation", () => {
  it("CancelRun aborts the running handler's signal within 1 s (100 cancels)", async () => {
    const COUNT = 100;
    await startWorker("cancel-many", COUNT);
    const jobs = await Promise.all(
      Array.from({ length: COUNT }, (_, i) => chime.createJob({ name: `hang-${i}`, queue: "cancel-many", schedule: "immediate" })),
    );
    const runs = await Promise.all(jobs.map((j) => onlyRunOf(chime, j.id)));
    await waitFor("every run RUNNING", async () => {
      const { rows } = await server.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE id = ANY($1::uuid[]) AND state = $2", [
        runs.map((r) => r.id),
        RunState.RUNNING,
      ]);
      return rows[0].n === COUNT && runs.every((r) => calls.has(r.id));
    }, { timeoutMs: 30_000 });

    const latencies: number[] = [];
    for (const run of runs) {
      const before = Date.now();
      const returned = await chime.cancelRun(run.id);
      expect(returned.state).toBe(RunState.RUNNING); // flagged; the worker ends it
      const call = calls.get(run.id)!;
      await waitFor("the handler's signal to abort", () => call.abortedAt !== undefined, { timeoutMs: 5000, intervalMs: 5 });
      latencies.push(call.abortedAt! - before);
      expect(call.reason).toBeInstanceOf(RunCancelledError);
    }
    const sorted = [...latencies].sort((a, b) => a - b);
    const p50 = percentile(sorted, 50);
    const p99 = percentile(sorted, 99);
    console.log(`[cancel] CancelRun → handler signal aborted, over ${COUNT} cancels: p50 ${p50} ms, p99 ${p99} ms, max ${sorted[sorted.length - 1]} ms`);
    expect(p99).toBeLessThan(1000);

    const ended = await Promise.all(runs.map((r) => terminalRun(chime, r.id)));
    for (const run of ended) {
      expect(run.state).toBe(RunState.CANCELLED);
      expect(run.attempts.map((a) => a.state)).toEqual([RunState.CANCELLED]);
    }
    expect((await eventsOf(server.pool, runs[0].id)).map((e) => e.state)).toEqual([RunState.QUEUED, RunState.RUNNING, RunState.CANCELLED]);
  });

  it("a run cancelled while queued is acked by the worker without running it", async () => {
    const job = await chime.createJob({ name: "queued", queue: "cancel-queued", schedule: "immediate" });
    const run = await onlyRunOf(chime, job.id);
    await waitFor("the run to be published", async () => (await chime.getRun(run.id)).dispatchTime !== undefined);
    const cancelled = await chime.cancelRun(run.id);
    expect(cancelled.state).toBe(RunState.CANCELLED);
    await startWorker("cancel-queued");
    const layout = natsLayout(server.config.natsPrefix);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await waitFor("the message to be acked", async () => {
        const info = await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, "cancel-queued"));
        return info.delivered.consumer_seq === 1 && info.num_pending === 0 && info.num_ack_pending === 0;
      });
    } finally {
      await nc.close();
    }
    expect(calls.has(run.id)).toBe(false);
    const after = await chime.getRun(run.id);
    expect(after.state).toBe(RunState.CANCELLED);
    expect(after.attempts).toEqual([]);
  });

  it("DeleteJob aborts the handler of its running run", async () => {
    await startWorker("cancel-delete");
    const job = await chime.createJob({ name: "to-delete", queue: "cancel-delete", schedule: "immediate" });
    const run = await onlyRunOf(chime, job.id);
    await waitFor("the run to be RUNNING", async () => (await chime.getRun(run.id)).state === RunState.RUNNING && calls.has(run.id));
    await chime.deleteJob(job.id);
    await waitFor("the handler to abort", () => calls.get(run.id)?.abortedAt !== undefined, { timeoutMs: 2000 });
    expect((await terminalRun(chime, run.id)).state).toBe(RunState.CANCELLED);
  });

  it("the CANCEL_PREVIOUS overlap policy aborts the previous run's handler when the next one fires", async () => {
    await startWorker("cancel-previous");
    const job = await chime.createJob({ name: "every-second", queue: "cancel-previous", schedule: { every: "1s" }, overlap: "cancel_previous" });
    const first = await onlyRunOf(chime, job.id);
    await waitFor("the first handler to abort", () => calls.get(first.id)?.abortedAt !== undefined, { timeoutMs: 5000 });
    await chime.pauseJob(job.id);
    const ended = await terminalRun(chime, first.id);
    expect(ended.state).toBe(RunState.CANCELLED);
    expect(calls.get(first.id)!.reason).toBeInstanceOf(RunCancelledError);
  });
});
