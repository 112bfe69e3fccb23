/**
 * The Worker's report path (status stored, then ack) runs after the handler's slot is free.
 * These tests break that path for real, by removing the events stream the status batches go
 * to (JetStream then answers "no responders" and the worker retries), with no Chime server:
 * runs are published straight to the runs stream.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { jetstream, jetstreamManager, type JetStreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import {
  AttemptTimeoutError,
  encodeRunAssignment,
  natsLayout,
  RunAssignmentSchema,
  RunState,
  Worker,
  type NatsLayout,
  type WorkerRun,
} from "@chime/sdk";
import { ensureStreams } from "../src/nats/streams.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { readStatusUpdates } from "./helpers/stream-messages.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { waitFor } from "./helpers/wait.js";
import { readWorkerLog, spawnWorker, type WorkerProcess } from "./helpers/worker-process.js";

const QUEUE = "report";
let nc: NatsConnection;
let jsm: JetStreamManager;
let dir: string;
const prefixes: string[] = [];
const workers: Worker[] = [];
const processes: WorkerProcess[] = [];

beforeAll(async () => {
  nc = await connect({ servers: TEST_NATS_URL });
  jsm = await jetstreamManager(nc);
  dir = mkdtempSync(join(tmpdir(), "chime-report-"));
});
afterEach(async () => {
  await Promise.all(workers.splice(0).map((w) => w.stop(500)));
  await Promise.all(processes.splice(0).map((p) => p.kill()));
});
afterAll(async () => {
  for (const prefix of prefixes) await deleteNatsPrefix(prefix);
  await nc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** A prefix whose streams exist but for the events stream: every status publish fails until `restoreEvents`. */
async function brokenStatusPath(): Promise<{ prefix: string; layout: NatsLayout; restoreEvents: () => Promise<unknown> }> {
  const prefix = testNatsPrefix();
  prefixes.push(prefix);
  const layout = natsLayout(prefix);
  await ensureStreams(nc, prefix);
  await jsm.streams.delete(layout.eventsStream);
  return { prefix, layout, restoreEvents: () => ensureStreams(nc, prefix) };
}

async function publishRuns(layout: NatsLayout, count: number, fields: MessageInitShape<typeof RunAssignmentSchema> = {}): Promise<string[]> {
  const ids = Array.from({ length: count }, () => randomUUID());
  const js = jetstream(nc);
  for (const runId of ids) {
    const assignment = create(RunAssignmentSchema, { runId, jobId: randomUUID(), jobName: "report", namespace: "default", queue: QUEUE, ...fields });
    await js.publish(layout.runSubject(assignment.namespace, QUEUE), encodeRunAssignment(assignment), { msgID: runId });
  }
  return ids;
}

const consumerState = async (layout: NatsLayout) => {
  const info = await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE));
  return { pending: info.num_pending, unacked: info.num_ack_pending };
};

/** Waits until the queue's consumer has nothing left to deliver and nothing unacked. */
const untilAllAcked = (layout: NatsLayout, what: string, timeoutMs: number) =>
  waitFor(what, async () => {
    const state = await consumerState(layout);
    return state.pending === 0 && state.unacked === 0;
  }, { timeoutMs });

/** The updates stored for each run that end it. */
async function endsByRun(prefix: string) {
  const ends = new Map<string, { state: RunState; attempt: number; workerId: string }[]>();
  for (const u of await readStatusUpdates(prefix)) {
    if (u.state === RunState.RUNNING) continue;
    ends.set(u.runId, [...(ends.get(u.runId) ?? []), { state: u.state, attempt: u.attempt, workerId: u.workerId }]);
  }
  return ends;
}

async function startWorker(prefix: string, concurrency: number, handler: (run: WorkerRun) => unknown, ackWaitMs?: number): Promise<Worker> {
  const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix, queue: QUEUE, concurrency, handler: async (run) => void handler(run), workerId: "w", ackWaitMs });
  await worker.start();
  workers.push(worker);
  return worker;
}

it("a slow status path does not hold a handler slot: with concurrency 1 every run starts though none can be acked yet", async () => {
  const { prefix, layout, restoreEvents } = await brokenStatusPath();
  const started: string[] = [];
  const worker = await startWorker(prefix, 1, (run) => started.push(run.runId));
  const ids = await publishRuns(layout, 5);

  // One slot, five runs: each started as soon as the previous handler returned, while the
  // reports of all of them were still waiting for a stream to store their status.
  await waitFor("every handler to start", () => started.length === 5);
  expect(started).toEqual(ids);
  expect(worker.reportsPending).toBe(5);
  // Nothing is acked before its status is stored.
  expect(await consumerState(layout)).toEqual({ pending: 0, unacked: 5 });

  await restoreEvents();
  await waitFor("every run to be acked", async () => (await consumerState(layout)).unacked === 0, { timeoutMs: 10_000 });
  expect(worker.reportsPending).toBe(0);
  const ends = await endsByRun(prefix);
  for (const id of ids) expect(ends.get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 1, workerId: "w" }]);
  expect(started).toHaveLength(5); // no run was handed out twice
});

it("a run whose report takes longer than the ack wait is not redelivered: it is heartbeaten until acked", async () => {
  const { prefix, layout, restoreEvents } = await brokenStatusPath();
  const started: string[] = [];
  await startWorker(prefix, 2, (run) => started.push(run.runId), 1000);
  const ids = await publishRuns(layout, 2);
  await waitFor("the handlers to end", () => started.length === 2);
  // JetStream would hand the runs out again after 1 s without a heartbeat; the reports keep
  // retrying for 10 s before they give up, so the path is restored in between.
  await new Promise((resolve) => setTimeout(resolve, 1800));
  const info = await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE));
  expect({ redelivered: info.num_redelivered, unacked: info.num_ack_pending }).toEqual({ redelivered: 0, unacked: 2 });
  await restoreEvents();
  await waitFor("the runs to be acked", async () => (await consumerState(layout)).unacked === 0, { timeoutMs: 10_000 });
  const ends = await endsByRun(prefix);
  for (const id of ids) expect(ends.get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 1, workerId: "w" }]);
  expect(started).toEqual(ids);
});

it("stop() waits for the reports it has started, and returns once their runs are stored and acked", async () => {
  const { prefix, layout, restoreEvents } = await brokenStatusPath();
  const started: string[] = [];
  const worker = await startWorker(prefix, 4, (run) => started.push(run.runId));
  const ids = await publishRuns(layout, 3);
  await waitFor("the handlers to end", () => started.length === 3 && worker.running === 0);
  expect(worker.reportsPending).toBe(3);

  let stopped = false;
  const stopping = worker.stop(1000).then(() => (stopped = true));
  // With no handler running, stop() has nothing left to wait for but the reports: it must
  // still be waiting well after its other steps (a few round trips) are done.
  await waitFor("the worker to stop pulling", async () => (await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE))).num_waiting === 0);
  await new Promise((resolve) => setTimeout(resolve, 300));
  expect(stopped).toBe(false);

  await restoreEvents();
  await stopping;
  // Once stop() returned, every run's status is stored and its message acked.
  expect(await consumerState(layout)).toEqual({ pending: 0, unacked: 0 });
  const ends = await endsByRun(prefix);
  for (const id of ids) expect(ends.get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 1, workerId: "w" }]);
});

it("a worker killed while its reports wait loses no run: another worker runs them again and stores their status", async () => {
  const { prefix, layout, restoreEvents } = await brokenStatusPath();
  const logFile = join(dir, "killed.jsonl");
  const start = async (workerId: string) => {
    const p = await spawnWorker({ prefix, queue: QUEUE, logFile, workerId, concurrency: 4, ackWaitMs: 2000 });
    processes.push(p);
    return p;
  };
  const a = await start("A");
  const ids = await publishRuns(layout, 10);
  const startsBy = (workerId: string) => readWorkerLog(logFile).filter((e) => e.event === "start" && e.workerId === workerId);
  await waitFor("A to run every handler", () => new Set(startsBy("A").map((e) => e.runId)).size === 10);
  // A's handlers all returned (4 slots, 10 runs), yet none of its runs is acked: kill it now.
  expect(await consumerState(layout)).toEqual({ pending: 0, unacked: 10 });
  await a.kill();

  await restoreEvents();
  await start("B");
  await waitFor("B to take over every run", async () => {
    const state = await consumerState(layout);
    return state.pending === 0 && state.unacked === 0;
  }, { timeoutMs: 30_000 });
  const ends = await endsByRun(prefix);
  for (const id of ids) expect(ends.get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 2, workerId: "B" }]);
  expect(startsBy("B").map((e) => e.runId).sort()).toEqual([...ids].sort());
});

it("a handler that ignores its aborted signal keeps its slot for abortGraceMs, while its run is reported at once", async () => {
  const prefix = testNatsPrefix();
  prefixes.push(prefix);
  const layout = natsLayout(prefix);
  await ensureStreams(nc, prefix);
  const GRACE_MS = 600;
  const starts = new Map<string, number>();
  let abortedAt = 0;
  let release!: () => void;
  const ignored = new Promise<void>((resolve) => (release = resolve));
  const worker = new Worker({
    natsUrl: TEST_NATS_URL,
    prefix,
    queue: QUEUE,
    concurrency: 1,
    abortGraceMs: GRACE_MS,
    workerId: "w",
    handler: async (run, { signal }) => {
      starts.set(run.runId, Date.now());
      if (starts.size > 1) return;
      signal.addEventListener("abort", () => (abortedAt = Date.now()));
      await ignored; // ignores its signal
    },
  });
  await worker.start();
  workers.push(worker);
  try {
    const [hanging] = await publishRuns(layout, 1, { attemptTimeout: { nanos: 200_000_000 }, retryPolicy: { maxAttempts: 1 } });
    await waitFor("the first handler to start", () => starts.has(hanging));
    const [next] = await publishRuns(layout, 1);
    await waitFor("the next run to start", () => starts.has(next), { timeoutMs: 10_000 });
    expect(abortedAt).toBeGreaterThan(0);
    // The slot stayed taken for the grace period after the abort, not until the handler ended...
    expect(starts.get(next)! - abortedAt).toBeGreaterThanOrEqual(GRACE_MS - 50);
    expect(starts.get(next)! - abortedAt).toBeLessThan(GRACE_MS + 2000);
    // ...while the timed-out run was reported as the attempt timed out.
    await waitFor("both runs to be acked", async () => (await consumerState(layout)).unacked === 0, { timeoutMs: 10_000 });
    const timedOut = (await readStatusUpdates(prefix)).find((u) => u.runId === hanging && u.state === RunState.TIMED_OUT)!;
    expect(timedOut.error).toBe(new AttemptTimeoutError(200).message);
    expect(timestampMs(timedOut.time!) - abortedAt).toBeLessThan(100);
  } finally {
    release();
  }
});

it("a redelivery of a run the worker already ended is acked without running its handler again", async () => {
  const prefix = testNatsPrefix();
  prefixes.push(prefix);
  const layout = natsLayout(prefix);
  await ensureStreams(nc, prefix);
  const started: string[] = [];
  await startWorker(prefix, 2, (run) => started.push(run.runId));
  const [id] = await publishRuns(layout, 1);
  await waitFor("the run to end", async () => (await endsByRun(prefix)).has(id) && (await consumerState(layout)).unacked === 0, { timeoutMs: 10_000 });
  // The same run delivered again, as JetStream does when an ack was lost with its consumer leader.
  const assignment = create(RunAssignmentSchema, { runId: id, jobId: randomUUID(), jobName: "report", namespace: "default", queue: QUEUE });
  await jetstream(nc).publish(layout.runSubject("default", QUEUE), encodeRunAssignment(assignment), { msgID: `${id}-again` });
  await untilAllAcked(layout, "the second delivery to be acked", 10_000);
  expect(started).toEqual([id]);
  expect((await endsByRun(prefix)).get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 1, workerId: "w" }]);
});

it("a second delivery of a run whose status is still being stored waits for that report, then is acked without running", async () => {
  const { prefix, layout, restoreEvents } = await brokenStatusPath();
  const started: string[] = [];
  await startWorker(prefix, 2, (run) => started.push(run.runId));
  const [id] = await publishRuns(layout, 1);
  await waitFor("the handler to end", () => started.length === 1);
  // The same run sent again as a first delivery while its report waits, as a NATS server
  // killed with SIGKILL does when it loses its consumer's state of the last deliveries.
  const assignment = create(RunAssignmentSchema, { runId: id, jobId: randomUUID(), jobName: "report", namespace: "default", queue: QUEUE });
  await jetstream(nc).publish(layout.runSubject("default", QUEUE), encodeRunAssignment(assignment), { msgID: `${id}-lost-state` });
  await waitFor("the copy to be delivered", async () => (await consumerState(layout)).unacked === 2);
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(started).toEqual([id]);

  await restoreEvents();
  await untilAllAcked(layout, "both deliveries to be acked", 15_000);
  expect(started).toEqual([id]);
  expect((await endsByRun(prefix)).get(id)).toEqual([{ state: RunState.SUCCEEDED, attempt: 1, workerId: "w" }]);
});
