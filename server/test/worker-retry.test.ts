import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  AttemptTimeoutError,
  createChimeClient,
  natsLayout,
  NonRetryableError,
  RunState,
  Worker,
  type ChimeClient,
  type WorkerRun,
} from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { eventsOf, onlyRunOf, terminalRun } from "./helpers/worker-runs.js";
import { createLogger } from "../src/logger.js";

const QUIET = createLogger("silent");

let server: TestServer;
let chime: ChimeClient;
let worker: Worker;
let nc: NatsConnection;
const QUEUE = "retry";

interface Call {
  runId: string;
  attempt: number;
  at: number;
  abortedAt?: number;
  abortReason?: unknown;
}
const calls: Call[] = [];
const callsOf = (runId: string) => calls.filter((c) => c.runId === runId);

/** Behaviour by payload: fail until an attempt, fail permanently, or wait for the signal. */
async function handler(run: WorkerRun, { signal }: { signal: AbortSignal }) {
  const call: Call = { runId: run.runId, attempt: run.attempt, at: Date.now() };
  calls.push(call);
  signal.addEventListener("abort", () => {
    call.abortedAt = Date.now();
    call.abortReason = signal.reason;
  });
  const p = run.payload as { failUntilAttempt?: number; nonRetryable?: boolean; hang?: boolean };
  if (p.hang) await new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  if (p.nonRetryable) throw new NonRetryableError("bad input, do not retry");
  if (p.failUntilAttempt && run.attempt < p.failUntilAttempt) throw new Error(`failing attempt ${run.attempt}`);
  return { attempt: run.attempt };
}

beforeAll(async () => {
  server = await startTestServer();
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  worker = new Worker({ logger: QUIET, natsUrl: TEST_NATS_URL, prefix: server.config.natsPrefix, queue: QUEUE, concurrency: 8, handler, ackWaitMs: 5000 });
  await worker.start();
  nc = await connect({ servers: TEST_NATS_URL });
});
afterAll(async () => {
  await worker?.stop(1000);
  await nc?.close();
  await server?.close();
});

describe("retries", () => {
  it("retries a failing handler with exponential backoff and keeps every attempt", async () => {
    const job = await chime.createJob({
      name: "flaky",
      queue: QUEUE,
      schedule: "immediate",
      payload: { failUntilAttempt: 4 },
      retry: { maxAttempts: 5, initialBackoff: "300ms", multiplier: 2, maxBackoff: "10s", jitter: 0 },
    });
    const run = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.attempt).toBe(4);
    expect(run.output).toEqual({ attempt: 4 });
    // Succeeded on a retry: the run has no error; each failed attempt keeps its own.
    expect(run.error).toBe("");
    expect(run.attempts.map((a) => [a.attempt, a.state, a.error])).toEqual([
      [1, RunState.FAILED, "failing attempt 1"],
      [2, RunState.FAILED, "failing attempt 2"],
      [3, RunState.FAILED, "failing attempt 3"],
      [4, RunState.SUCCEEDED, ""],
    ]);
    for (const a of run.attempts) expect(a.startTime && a.endTime && a.workerId).toBeTruthy();
    // Backoff 300, 600, 1200 ms (no jitter): the gaps between handler starts, within generous bounds.
    const starts = callsOf(run.id).map((c) => c.at);
    expect(starts).toHaveLength(4);
    const gaps = starts.slice(1).map((t, i) => t - starts[i]);
    console.log(`[retry] gaps between attempts: ${gaps.join(", ")} ms (backoff 300, 600, 1200 ms)`);
    [300, 600, 1200].forEach((expected, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(expected * 0.9);
      expect(gaps[i]).toBeLessThan(expected + 1500);
    });
    expect((await eventsOf(server.pool, run.id)).map((e) => [e.state, e.attempt])).toEqual([
      [RunState.QUEUED, 0],
      [RunState.RUNNING, 1],
      [RunState.RETRY_WAIT, 1],
      [RunState.RUNNING, 2],
      [RunState.RETRY_WAIT, 2],
      [RunState.RUNNING, 3],
      [RunState.RETRY_WAIT, 3],
      [RunState.RUNNING, 4],
      [RunState.SUCCEEDED, 4],
    ]);
  });

  it("fails the run after max_attempts, with the last error", async () => {
    const job = await chime.createJob({
      name: "always-fails",
      queue: QUEUE,
      schedule: "immediate",
      payload: { failUntilAttempt: 100 },
      retry: { maxAttempts: 3, initialBackoff: "100ms", jitter: 0 },
    });
    const run = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
    expect(run.state).toBe(RunState.FAILED);
    expect(run.attempt).toBe(3);
    expect(run.error).toBe("failing attempt 3");
    expect(run.attempts.map((a) => a.state)).toEqual([RunState.FAILED, RunState.FAILED, RunState.FAILED]);
    expect(run.endTime).toBeDefined();
    expect(callsOf(run.id)).toHaveLength(3);
  });

  it("does not retry an error marked retryable: false", async () => {
    const job = await chime.createJob({
      name: "permanent",
      queue: QUEUE,
      schedule: "immediate",
      payload: { nonRetryable: true },
      retry: { maxAttempts: 5, initialBackoff: "100ms" },
    });
    const run = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
    expect(run.state).toBe(RunState.FAILED);
    expect(run.attempt).toBe(1);
    expect(run.error).toBe("bad input, do not retry");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(callsOf(run.id)).toHaveLength(1);
  });

  it("aborts a handler at the attempt timeout, retries it, and ends TIMED_OUT after the last attempt", async () => {
    const job = await chime.createJob({
      name: "hangs",
      queue: QUEUE,
      schedule: "immediate",
      payload: { hang: true },
      attemptTimeout: "500ms",
      retry: { maxAttempts: 2, initialBackoff: "100ms", jitter: 0 },
    });
    const run = await terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
    expect(run.state).toBe(RunState.TIMED_OUT);
    expect(run.attempt).toBe(2);
    expect(run.attempts.map((a) => a.state)).toEqual([RunState.TIMED_OUT, RunState.TIMED_OUT]);
    expect(run.error).toMatch(/timed out after 500 ms/);
    const runCalls = callsOf(run.id);
    expect(runCalls).toHaveLength(2);
    for (const call of runCalls) {
      expect(call.abortReason).toBeInstanceOf(AttemptTimeoutError);
      const after = call.abortedAt! - call.at;
      expect(after).toBeGreaterThanOrEqual(450);
      expect(after).toBeLessThan(1500);
    }
    expect((await eventsOf(server.pool, run.id)).map((e) => e.state)).toEqual([
      RunState.QUEUED,
      RunState.RUNNING,
      RunState.RETRY_WAIT,
      RunState.RUNNING,
      RunState.TIMED_OUT,
    ]);
  });
});

describe("bad messages", () => {
  it("terminates a run message it cannot decode, without calling the handler", async () => {
    const layout = natsLayout(server.config.natsPrefix);
    const before = calls.length;
    await jetstream(nc).publish(layout.runSubject("default", QUEUE), new Uint8Array([0xff, 0xff, 0xff, 0x01]));
    const jsm = await jetstreamManager(nc);
    await waitFor("the bad message to be terminated", async () => {
      const info = await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE));
      return info.num_pending === 0 && info.num_ack_pending === 0 && info.delivered.consumer_seq > 0;
    });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(calls.length).toBe(before);
  });
});
