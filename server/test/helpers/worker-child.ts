/**
 * A worker process for tests: runs an SDK Worker whose handler is driven by the run's
 * payload, and appends one JSON line per handler event to CHIME_WORKER_LOG (synchronously,
 * so the lines written before a kill -9 survive). Prints "ready" once pulling.
 *
 * Payload: { sleepMs?: number, failUntilAttempt?: number, nonRetryable?: boolean, crash?: boolean }
 */
import { appendFileSync } from "node:fs";
import { NonRetryableError, Worker } from "@chime/sdk";

const env = (name: string, fallback?: string): string => {
  const value = process.env[name] ?? fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};
const logFile = env("CHIME_WORKER_LOG");
const workerId = env("CHIME_WORKER_ID", `child-${process.pid}`);
const record = (event: Record<string, unknown>) => appendFileSync(logFile, `${JSON.stringify({ ...event, workerId, t: Date.now() })}\n`);

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      reject(signal.reason);
    }, { once: true });
  });

const worker = new Worker({
  natsUrl: env("CHIME_NATS_URL"),
  prefix: env("CHIME_NATS_PREFIX"),
  queue: env("CHIME_QUEUE"),
  concurrency: Number(env("CHIME_CONCURRENCY", "50")),
  ackWaitMs: Number(env("CHIME_ACK_WAIT_MS", "30000")),
  maxDeliver: Number(env("CHIME_MAX_DELIVER", "100")),
  workerId,
  handler: async (run, { signal }) => {
    record({ event: "start", runId: run.runId, attempt: run.attempt });
    signal.addEventListener("abort", () => record({ event: "abort", runId: run.runId, attempt: run.attempt, reason: String(signal.reason) }), { once: true });
    const payload = run.payload as { sleepMs?: number; failUntilAttempt?: number; nonRetryable?: boolean; crash?: boolean };
    if (payload.crash) process.exit(3); // a handler that takes its worker down, every time
    if (payload.sleepMs) await sleep(payload.sleepMs, signal);
    if (payload.nonRetryable) throw new NonRetryableError("permanent failure");
    if (payload.failUntilAttempt && run.attempt < payload.failUntilAttempt) throw new Error(`failing attempt ${run.attempt}`);
    // A handler that ran to its end (the chaos suite counts executions of a run by these).
    record({ event: "end", runId: run.runId, attempt: run.attempt });
    return { workerId, attempt: run.attempt };
  },
});

await worker.start();
process.stdout.write("ready\n");
process.on("SIGTERM", () => {
  void worker.stop(2000).then(() => process.exit(0));
});
