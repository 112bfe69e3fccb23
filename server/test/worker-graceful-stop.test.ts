import { afterAll, expect, it } from "vitest";
import { RunState, Worker } from "@chime/sdk";
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
