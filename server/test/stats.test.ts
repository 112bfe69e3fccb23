import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { NonRetryableError, RunState, Worker } from "@chime/sdk";
import { durationToMs } from "../src/util/time.js";
import { useTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";
import { createLogger } from "../src/logger.js";

const QUIET = createLogger("silent");

const fixture = useTestServer({ CHIME_BACKGROUND_INTERVAL_MS: "100" });
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

/** Each handler takes at least this long: a lower bound every duration must respect. */
const HANDLER_MS = 30;

describe("StatsService", () => {
  it("a job's and a queue's runs by outcome, success rate, durations and start lags, active runs and the queue's consumer", async () => {
    const stats = fixture.chime.statsService;
    const job = await fixture.chime.createJob({ name: "stats", queue: "stats-q", schedule: { every: "1h" }, retry: { maxAttempts: 1 } });
    let calls = 0;
    const worker = new Worker({
      // The runs fail on purpose: their "run failed" warnings would only clutter the test output.
      logger: QUIET,
      natsUrl: TEST_NATS_URL,
      prefix: fixture.server.config.natsPrefix,
      queue: "stats-q",
      workerId: "s",
      handler: async () => {
        await sleep(HANDLER_MS);
        // Every third run fails.
        if (++calls % 3 === 0) throw new NonRetryableError("third time unlucky");
      },
    });
    await worker.start();
    workers.push(worker);
    for (let i = 0; i < 6; i++) {
      const run = await fixture.chime.triggerJob(job.id);
      await waitFor(`run ${i + 1} to end`, async () => ([RunState.SUCCEEDED, RunState.FAILED].includes((await fixture.chime.getRun(run.id)).state) ? true : undefined));
    }

    const byJob = await stats.getJobStats({ jobId: job.id });
    expect(byJob.ended).toMatchObject({ succeeded: 4n, failed: 2n, cancelled: 0n, timedOut: 0n });
    expect(byJob.ended!.successRate).toBeCloseTo(4 / 6);
    expect(durationToMs(byJob.ended!.durationP50!)).toBeGreaterThanOrEqual(HANDLER_MS);
    expect(durationToMs(byJob.ended!.durationP99!)).toBeGreaterThanOrEqual(durationToMs(byJob.ended!.durationP50!));
    expect(durationToMs(byJob.ended!.startLagP50!)).toBeGreaterThanOrEqual(0);
    expect(byJob.active).toMatchObject({ queued: 0n, running: 0n, retryWait: 0n });

    // The queue's figures come from the rollup, written behind the scheduler.
    const byQueue = await waitFor("the queue rollup to count every run", async () => {
      const answer = await stats.getQueueStats({ queue: "stats-q" });
      return answer.ended!.succeeded + answer.ended!.failed === 6n ? answer : undefined;
    });
    expect(byQueue.ended).toMatchObject({ succeeded: 4n, failed: 2n });
    // By the jobs' namespace: all of them are in "default".
    expect((await stats.getQueueStats({ queue: "stats-q", namespace: "default" })).ended).toMatchObject({ succeeded: 4n, failed: 2n });
    expect((await stats.getQueueStats({ queue: "stats-q", namespace: "elsewhere" })).ended).toMatchObject({ succeeded: 0n, failed: 0n });
    // A bucket bound at or above the handler's time.
    expect(durationToMs(byQueue.ended!.durationP50!)).toBeGreaterThanOrEqual(HANDLER_MS);
    expect(byQueue.pullRequests).toBeGreaterThanOrEqual(1n);
    expect(byQueue.runsWaiting).toBe(0n);
    expect(byQueue.windowStart!.seconds).toBeLessThanOrEqual(BigInt(Math.floor(Date.now() / 1000) - 3600));
  });

  it("runs still queued count as active; a queue no worker consumed has no consumer figures", async () => {
    const stats = fixture.chime.statsService;
    const job = await fixture.chime.createJob({ name: "stranded", queue: "nobody-q", schedule: { every: "1h" } });
    await fixture.chime.triggerJob(job.id);
    expect((await stats.getJobStats({ jobId: job.id })).active).toMatchObject({ queued: 1n });
    const byQueue = await stats.getQueueStats({ queue: "nobody-q" });
    expect(byQueue.active).toMatchObject({ queued: 1n });
    expect(byQueue).toMatchObject({ runsWaiting: 0n, runsInFlight: 0n, pullRequests: 0n });
    expect(byQueue.ended).toMatchObject({ succeeded: 0n, successRate: 0 });
    expect(byQueue.ended!.durationP50).toBeUndefined();
  });

  it("bad requests name the field; an unknown job is NOT_FOUND", async () => {
    const stats = fixture.chime.statsService;
    const error = async (call: Promise<unknown>) => ConnectError.from(await call.then(() => undefined, (e: unknown) => e));
    const badWindow = await error(stats.getJobStats({ jobId: "00000000-0000-4000-8000-000000000000", window: { nanos: 1 } }));
    expect([Code[badWindow.code], badWindow.rawMessage]).toEqual(["InvalidArgument", "window: expected 1s to 31 days"]);
    const unknown = await error(stats.getJobStats({ jobId: "00000000-0000-4000-8000-000000000000" }));
    expect(unknown.code).toBe(Code.NotFound);
    const badId = await error(stats.getJobStats({ jobId: "x" }));
    expect(badId.rawMessage).toMatch(/^job_id: /);
    const badQueue = await error(stats.getQueueStats({ queue: "no spaces" }));
    expect([Code[badQueue.code], badQueue.rawMessage]).toEqual(["InvalidArgument", "queue: expected 1-64 letters, digits, _ or -"]);
    const shortWindow = await error(stats.getQueueStats({ queue: "q", window: { seconds: 30n } }));
    expect(shortWindow.rawMessage).toBe("window: expected 60s to 31 days");
  });
});
