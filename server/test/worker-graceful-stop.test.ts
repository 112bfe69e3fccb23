import { afterAll, expect, it } from "vitest";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { natsLayout, RunState, Worker } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { useTestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

const fixture = useTestServer();
const workers: Worker[] = [];
const starts: Array<{ workerId: string; runId: string; attempt: number }> = [];

function startWorker(workerId: string): Promise<void> {
  const worker = new Worker({
    natsUrl: TEST_NATS_URL,
    prefix: fixture.server.config.natsPrefix,
    queue: "graceful",
    workerId,
    // One slot and one run prefetched: a stop finds a run running and one waiting.
    concurrency: 1,
    prefetch: 1,
    handler: async (run) => {
      starts.push({ workerId, runId: run.runId, attempt: run.attempt });
      await new Promise((resolve) => setTimeout(resolve, 400));
      return { workerId };
    },
  });
  workers.push(worker);
  return worker.start();
}

// Registered after the fixture's, so it runs before the server closes.
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(500)));
});

it("a graceful stop runs the runs it holds within its grace instead of spending an attempt of theirs", async () => {
  const { chime } = fixture;
  await startWorker("A");
  const jobs = await Promise.all(
    [0, 1].map((i) => chime.createJob({ name: `once-${i}`, queue: "graceful", schedule: "immediate", retry: { maxAttempts: 1 } })),
  );
  const runs = await Promise.all(jobs.map((j) => onlyRunOf(chime, j.id)));
  await waitFor("A to start a run", () => starts.length === 1);
  await new Promise((resolve) => setTimeout(resolve, 100)); // the second is delivered, waiting for the slot
  const stopping = workers[0].stop(5000);
  await startWorker("B");
  await stopping;
  const ended = await Promise.all(runs.map((r) => terminalRun(chime, r.id)));
  expect(ended.map((r) => [r.state, r.attempt])).toEqual([
    [RunState.SUCCEEDED, 1],
    [RunState.SUCCEEDED, 1],
  ]);
  expect(starts.map((s) => s.workerId)).toEqual(["A", "A"]);
});

it("runs a stop hands back unstarted cost no attempt; one whose handler the stop aborted has spent its attempt", async () => {
  const { chime } = fixture;
  const heldStarts: Array<{ workerId: string; runId: string; attempt: number }> = [];
  const make = (workerId: string, block: boolean) =>
    new Worker({
      natsUrl: TEST_NATS_URL,
      prefix: fixture.server.config.natsPrefix,
      queue: "handback",
      workerId,
      // One slot, three waiting behind it: a stop whose grace is short leaves them unstarted.
      concurrency: 1,
      prefetch: 3,
      handler: async (run, ctx) => {
        heldStarts.push({ workerId, runId: run.runId, attempt: run.attempt });
        if (block) await new Promise((resolve) => ctx.signal.addEventListener("abort", resolve));
        return { workerId };
      },
    });
  const a = make("A", true);
  workers.push(a);
  await a.start();
  const running = await chime.createJob({ name: "running", queue: "handback", schedule: "immediate", retry: { maxAttempts: 2 } });
  const runningRun = await onlyRunOf(chime, running.id);
  await waitFor("A to start the first run", () => heldStarts.length === 1);
  const waiting = await Promise.all([0, 1, 2].map((i) => chime.createJob({ name: `waiting-${i}`, queue: "handback", schedule: "immediate", retry: { maxAttempts: 1 } })));
  const waitingRuns = await Promise.all(waiting.map((j) => onlyRunOf(chime, j.id)));
  await new Promise((resolve) => setTimeout(resolve, 1000)); // delivered to A's prefetch
  await a.stop(200);
  expect(heldStarts.map((s) => s.workerId)).toEqual(["A"]);
  // A recorded each hand-back before it handed the run back.
  const nc = await connect({ servers: TEST_NATS_URL });
  const bucket = await new Kvm(nc).open(natsLayout(fixture.server.config.natsPrefix).handbackBucket);
  const recorded = await Promise.all(waitingRuns.map(async (r) => (await bucket.get(r.id))?.string()));
  await nc.close();
  expect(recorded).toEqual(["1", "1", "1"]);

  const b = make("B", false);
  workers.push(b);
  await b.start();
  const ended = await Promise.all([runningRun, ...waitingRuns].map((r) => terminalRun(chime, r.id)));
  // The aborted one ran (an attempt); the three handed back run as their first attempt.
  expect(ended.map((r) => [r.state, r.attempt])).toEqual([
    [RunState.SUCCEEDED, 2],
    [RunState.SUCCEEDED, 1],
    [RunState.SUCCEEDED, 1],
    [RunState.SUCCEEDED, 1],
  ]);
  expect(heldStarts.filter((s) => s.workerId === "B").map((s) => s.attempt).sort()).toEqual([1, 1, 1, 2]);
});
