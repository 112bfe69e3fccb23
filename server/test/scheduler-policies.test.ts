import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChimeClient, JobState, RunState, type ChimeClient, type Run } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { readRunMessages } from "./helpers/stream-messages.js";
import { waitFor } from "./helpers/wait.js";

let server: TestServer;
let chime: ChimeClient;

beforeAll(async () => {
  // A late fire is on time for 500 ms only (a pause misses its times whatever its length).
  // No lookahead: these tests pin what the policies decide at each fire time; pausing a job
  // with runs written ahead is tested in scheduler-dispatch.test.ts.
  server = await startTestServer({ CHIME_MISFIRE_THRESHOLD_MS: "500", CHIME_RECONCILE_INTERVAL_MS: "300", CHIME_DISPATCH_LOOKAHEAD_MS: "0" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});
afterAll(async () => server?.close());

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until a quarter to two fifths into a second of the wall clock. */
async function untilMidSecond(): Promise<void> {
  while (Date.now() % 1000 < 250 || Date.now() % 1000 >= 400) await sleep(Math.max(1, (1250 - (Date.now() % 1000)) % 1000));
}
const secondsOf = (runs: Run[]) => runs.map((r) => Number(r.scheduledTime!.seconds)).sort((a, b) => a - b);

async function runsOf(jobId: string): Promise<Run[]> {
  const runs: Run[] = [];
  for await (const run of chime.listRuns({ jobId })) runs.push(run);
  return runs;
}

describe("misfire policies after a pause", () => {
  it("8 s paused: SKIP fires none of the paused seconds, RUN_ONCE exactly one (the latest), RUN_ALL every one", async () => {
    const policies = ["skip", "run_once", "run_all"] as const;
    const jobs = await Promise.all(
      policies.map((misfire) => chime.createJob({ name: `misfire-${misfire}`, queue: "m", schedule: { cron: "* * * * * *" }, misfire })),
    );
    await waitFor("first runs", async () => ((await Promise.all(jobs.map((j) => runsOf(j.id)))).every((r) => r.length >= 1) ? true : undefined));
    // Pause and resume a third of the way into a second, so that no fire time falls while a
    // call is in flight and each second is plainly before, inside or after the pause.
    await untilMidSecond();
    await Promise.all(jobs.map((j) => chime.pauseJob(j.id)));
    const pausedAt = Date.now();
    await sleep(8000);
    await untilMidSecond();
    const resumingAt = Date.now();
    await Promise.all(jobs.map((j) => chime.resumeJob(j.id)));
    const resumedAt = Date.now();
    await sleep(2500);
    await Promise.all(jobs.map((j) => chime.pauseJob(j.id)));
    await sleep(300);

    const pausedSeconds = (s: number) => s * 1000 > pausedAt && s * 1000 <= resumingAt;
    const span = Math.floor(resumingAt / 1000) - Math.ceil(pausedAt / 1000) + 1;
    expect(span).toBeGreaterThanOrEqual(7);
    const [skip, once, all] = (await Promise.all(jobs.map((j) => runsOf(j.id)))).map(secondsOf);
    expect(skip.filter(pausedSeconds)).toEqual([]);
    expect(once.filter(pausedSeconds)).toEqual([Math.floor(resumingAt / 1000)]);
    expect(all.filter(pausedSeconds)).toHaveLength(span);
    // Each goes on firing every second after the resume, and never fires a second twice.
    for (const seconds of [skip, once, all]) {
      expect(seconds.filter((s) => s * 1000 > resumedAt).length).toBeGreaterThanOrEqual(2);
      expect(new Set(seconds).size).toBe(seconds.length);
    }
    for (let i = 1; i < all.length; i++) expect(all[i] - all[i - 1]).toBe(1);
  });
});

describe("overlap policies (no worker runs them, so each run stays active)", () => {
  it("SKIP fires once while its run is active; TriggerJob respects it unless told not to", async () => {
    const job = await chime.createJob({ name: "overlap-skip", queue: "o", schedule: { cron: "* * * * * *" }, overlap: "skip" });
    await sleep(2500);
    expect(await runsOf(job.id)).toHaveLength(1);
    const refused = await chime.triggerJob(job.id).catch((e: unknown) => ConnectError.from(e));
    expect(refused).toBeInstanceOf(ConnectError);
    expect((refused as ConnectError).code).toBe(Code.FailedPrecondition);
    const forced = await chime.jobService.triggerJob({ id: job.id, ignoreOverlapPolicy: true });
    expect(forced.run?.state).toBe(RunState.QUEUED);
    await chime.deleteJob(job.id);
  });

  it("BUFFER_ONE keeps one held run, unpublished while the first is active", async () => {
    const job = await chime.createJob({ name: "overlap-buffer", queue: "o", schedule: { cron: "* * * * * *" }, overlap: "buffer_one" });
    await sleep(3000);
    const runs = (await runsOf(job.id)).reverse();
    expect(runs).toHaveLength(2);
    expect(runs[0].dispatchTime).toBeDefined();
    // Held: written but not published while the first run is active.
    expect(runs[1].dispatchTime).toBeUndefined();
    // When the active run ends, the held one is published.
    await chime.cancelRun(runs[0].id);
    await waitFor("the held run to be published", async () => ((await chime.getRun(runs[1].id)).dispatchTime ? true : undefined));
    await chime.deleteJob(job.id);
  });

  it("CANCEL_PREVIOUS cancels the active run at each fire", async () => {
    const job = await chime.createJob({ name: "overlap-cancel", queue: "o", schedule: { cron: "* * * * * *" }, overlap: "cancel_previous" });
    await sleep(3200);
    await chime.pauseJob(job.id);
    const runs = (await runsOf(job.id)).reverse();
    expect(runs.length).toBeGreaterThanOrEqual(3);
    expect(runs.slice(0, -1).every((r) => r.state === RunState.CANCELLED)).toBe(true);
    expect(runs[runs.length - 1].state).toBe(RunState.QUEUED);
    await chime.deleteJob(job.id);
  });

  it("ALLOW with max_concurrent_runs stops at the bound", async () => {
    const job = await chime.createJob({ name: "overlap-bound", queue: "o", schedule: { cron: "* * * * * *" }, maxConcurrentRuns: 2 });
    await sleep(3200);
    expect(await runsOf(job.id)).toHaveLength(2);
    await chime.deleteJob(job.id);
  });
});

describe("updates move the schedule", () => {
  it("recomputes the next fire time on update and fires on the new schedule", async () => {
    const job = await chime.createJob({ name: "update-me", queue: "u", schedule: { every: "1h" } });
    expect(job.nextRunTime!.seconds).toBeGreaterThan(BigInt(Math.floor(Date.now() / 1000) + 3000));
    const updated = await chime.updateJob(job.id, { schedule: { cron: "* * * * * *" } });
    expect(Number(updated.nextRunTime!.seconds) * 1000).toBeLessThanOrEqual(Date.now() + 1000);
    await waitFor("runs on the new schedule", async () => ((await runsOf(job.id)).length >= 2 ? true : undefined));
    // A new payload reaches the runs fired after the update (the leader re-reads the changed definition).
    await chime.updateJob(job.id, { payload: { version: 2 } });
    const updatedAt = Date.now();
    const firedAfterUpdate = async () =>
      (await readRunMessages(server.config.natsPrefix)).filter((m) => m.jobId === job.id && Number(m.scheduledTime!.seconds) * 1000 > updatedAt + 1000);
    const runsAfter = await waitFor("runs fired after the update", async () => {
      const runs = await firedAfterUpdate();
      return runs.length >= 2 ? runs : undefined;
    });
    expect(runsAfter.every((m) => m.payload?.version === 2)).toBe(true);
    const completed = await chime.updateJob(job.id, { schedule: { at: new Date(Date.now() + 500) } });
    expect(completed.state).toBe(JobState.ACTIVE);
    await waitFor("the one-shot to complete", async () => ((await chime.getJob(job.id)).state === JobState.COMPLETED ? true : undefined));
  });
});
