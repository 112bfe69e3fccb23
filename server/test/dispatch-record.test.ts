import { afterAll, describe, expect, it } from "vitest";
import { createChimeClient, RunState, Worker } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

/**
 * Dispatch records: the leader records a run's dispatch late (CHIME_DISPATCH_RECORD_DELAY_MS)
 * and only where no worker did; a worker's report carries the message's stream timestamp,
 * recorded with the status update. Nothing is left unrecorded either way.
 */

const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function serverWithDelay(delayMs: number): Promise<TestServer> {
  const server = await startTestServer({ CHIME_DISPATCH_RECORD_DELAY_MS: String(delayMs) });
  cleanups.push(() => server.close());
  return server;
}

describe("dispatch records", () => {
  it("a run a worker takes gets its dispatch time from the worker's report, with no record of the leader's", async () => {
    // The leader would record nothing for ten minutes: any dispatch time seen comes from the worker.
    const server = await serverWithDelay(600_000);
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: server.config.natsPrefix, queue: "taken", handler: () => ({ ok: true }) });
    await worker.start();
    cleanups.push(() => worker.stop());

    const [taken, waiting] = await Promise.all([
      chime.createJob({ name: "taken", queue: "taken", schedule: "immediate" }),
      chime.createJob({ name: "waiting", queue: "nobody", schedule: "immediate" }),
    ]);
    const run = await terminalRun(chime, (await onlyRunOf(chime, taken.id)).id);
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.dispatchTime).toBeDefined();
    const { rows } = await server.pool.query<{ created: Date; dispatched: Date; started: Date }>(
      "SELECT create_time AS created, dispatch_time AS dispatched, start_time AS started FROM runs WHERE id = $1",
      [run.id],
    );
    // Stored by JetStream after the run row was committed, and before the worker started it.
    expect(rows[0].dispatched.getTime()).toBeGreaterThanOrEqual(rows[0].created.getTime());
    expect(rows[0].dispatched.getTime()).toBeLessThanOrEqual(rows[0].started.getTime());

    // Published (its message waits in the queue's stream) but not recorded yet.
    const queued = await onlyRunOf(chime, waiting.id);
    expect(queued.state).toBe(RunState.QUEUED);
    expect(queued.dispatchTime).toBeUndefined();
  });

  it("a run nobody takes has its dispatch recorded by the leader after the delay", async () => {
    const server = await serverWithDelay(200);
    const chime = createChimeClient({ baseUrl: server.grpcUrl });
    const job = await chime.createJob({ name: "waiting", queue: "nobody", schedule: "immediate" });
    const run = await onlyRunOf(chime, job.id);
    const recorded = await waitFor("the leader's dispatch record", async () => (await chime.getRun(run.id)).dispatchTime, { timeoutMs: 10_000 });
    expect(recorded).toBeDefined();
    expect((await chime.getRun(run.id)).state).toBe(RunState.QUEUED);
  });
});
