import { describe, expect, it } from "vitest";
import { createChimeClient, JobState, RunState } from "@chime/sdk";
import { readMetric } from "./helpers/metrics.js";
import { readRunMessages } from "./helpers/stream-messages.js";
import { startTestServer, useTestServer } from "./helpers/test-server.js";

const fixture = useTestServer();

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function runsOf(jobId: string) {
  const runs = [];
  for await (const run of fixture.chime.listRuns({ jobId })) runs.push(run);
  return runs.reverse();
}

async function waitFor<T>(check: () => Promise<T | undefined>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await sleep(100);
  }
}

describe("scheduler dispatch", () => {
  it("fires a 6-field per-second cron every second, each run published once at exact seconds", async () => {
    const job = await fixture.chime.createJob({ name: "every-second", queue: "ticks", schedule: { cron: "* * * * * *" } });
    const started = Date.now();
    await sleep(10_000);
    await fixture.chime.pauseJob(job.id);
    const elapsed = (Date.now() - started) / 1000;
    const runs = await runsOf(job.id);
    expect(runs.length).toBeGreaterThanOrEqual(Math.floor(elapsed) - 1);
    expect(runs.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 1);
    const seconds = runs.map((r) => Number(r.scheduledTime!.seconds));
    for (const run of runs) expect(run.scheduledTime!.nanos).toBe(0);
    for (let i = 1; i < seconds.length; i++) expect(seconds[i] - seconds[i - 1]).toBe(1);
    // Every run was published, once.
    await waitFor(async () => ((await runsOf(job.id)).every((r) => r.dispatchTime) ? true : undefined));
    const messages = (await readRunMessages(fixture.server.config.natsPrefix)).filter((m) => m.jobId === job.id);
    expect(messages.map((m) => m.runId).sort()).toEqual(runs.map((r) => r.id).sort());
    for (const run of await runsOf(job.id)) {
      const lagMs = Number(run.dispatchLag!.seconds) * 1000 + run.dispatchLag!.nanos / 1e6;
      expect(lagMs).toBeGreaterThanOrEqual(0);
      expect(lagMs).toBeLessThan(1000);
    }
  });

  it("runs immediate and at jobs once, then completes them", async () => {
    const immediate = await fixture.chime.createJob({ name: "now", queue: "once", schedule: "immediate" });
    const at = await fixture.chime.createJob({ name: "soon", queue: "once", schedule: { at: new Date(Date.now() + 1500) } });
    const done = await waitFor(async () => {
      const [a, b] = await Promise.all([fixture.chime.getJob(immediate.id), fixture.chime.getJob(at.id)]);
      return a.state === JobState.COMPLETED && b.state === JobState.COMPLETED ? [a, b] : undefined;
    });
    expect(done.map((j) => j.nextRunTime)).toEqual([undefined, undefined]);
    expect(await runsOf(immediate.id)).toHaveLength(1);
    const atRuns = await runsOf(at.id);
    expect(atRuns).toHaveLength(1);
    expect(atRuns[0].scheduledTime).toEqual(at.schedule!.kind.case === "at" ? at.schedule!.kind.value.time : undefined);
  });

  it("fires an interval job on its anchor grid, stops at max_runs", async () => {
    const anchor = new Date(Math.ceil(Date.now() / 1000) * 1000 + 1000);
    const job = await fixture.chime.createJob({ name: "interval", queue: "grid", schedule: { every: "1s", anchor, maxRuns: 3 } });
    const finished = await waitFor(async () => {
      const j = await fixture.chime.getJob(job.id);
      return j.state === JobState.COMPLETED ? j : undefined;
    });
    expect(finished.runCount).toBe(3n);
    const runs = await runsOf(job.id);
    expect(runs.map((r) => Number(r.scheduledTime!.seconds) * 1000)).toEqual([0, 1, 2].map((i) => anchor.getTime() + i * 1000));
  });

  it("stops firing while paused and on delete; trigger publishes at once", async () => {
    const job = await fixture.chime.createJob({ name: "pausable", queue: "p", schedule: { cron: "* * * * * *" }, misfire: "skip" });
    await waitFor(async () => ((await runsOf(job.id)).length >= 2 ? true : undefined));
    await fixture.chime.pauseJob(job.id);
    await sleep(200);
    const before = (await runsOf(job.id)).length;
    await sleep(2200);
    expect((await runsOf(job.id)).length).toBe(before);
    const triggered = await fixture.chime.triggerJob(job.id);
    await waitFor(async () => ((await fixture.chime.getRun(triggered.id)).dispatchTime ? true : undefined), 5000);
    await fixture.chime.resumeJob(job.id);
    await waitFor(async () => ((await runsOf(job.id)).length >= before + 2 ? true : undefined));
    await fixture.chime.deleteJob(job.id);
    await sleep(200);
    const atDelete = (await runsOf(job.id)).length;
    await sleep(1500);
    const after = await runsOf(job.id);
    expect(after.length).toBe(atDelete);
    expect(after.filter((r) => r.state === RunState.QUEUED)).toHaveLength(0);
  });

  it("reports the leader and its epoch", async () => {
    const status = await fixture.chime.jobService.getSchedulerStatus({});
    expect(status.leaderId).toBe(fixture.server.config.serverId);
    expect(status.epoch).toBeGreaterThanOrEqual(1n);
    const metrics = await (await fetch(`${fixture.server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/chime_scheduler_is_leader 1/);
    expect(metrics).toMatch(/chime_dispatch_lag_seconds_bucket/);
  });
});

describe("dispatch lookahead", () => {
  it("writes an ALLOW job's runs ahead of their fire time and publishes none before it; holds back a SKIP job until due", async () => {
    const ahead = await fixture.chime.createJob({ name: "ahead", queue: "ahead", schedule: { cron: "* * * * * *" } });
    const skip = await fixture.chime.createJob({ name: "not-ahead", queue: "ahead", schedule: { cron: "* * * * * *" }, overlap: "skip" });
    await sleep(4500);
    await fixture.chime.pauseJob(ahead.id);
    await fixture.chime.pauseJob(skip.id);
    const times = async (jobId: string) =>
      (
        await fixture.server.pool.query<{ scheduled: Date; created: Date; dispatched: Date | null }>(
          "SELECT scheduled_time AS scheduled, create_time AS created, dispatch_time AS dispatched FROM runs WHERE job_id = $1 ORDER BY scheduled_time",
          [jobId],
        )
      ).rows;
    const aheadRuns = await waitFor(async () => {
      const rows = await times(ahead.id);
      return rows.length >= 3 && rows.every((r) => r.dispatched) ? rows : undefined;
    });
    // Published at or after the fire time, never before...
    for (const r of aheadRuns) expect(r.dispatched!.getTime()).toBeGreaterThanOrEqual(r.scheduled.getTime());
    // ...and written before it (the default lookahead is one second).
    expect(aheadRuns.filter((r) => r.created.getTime() < r.scheduled.getTime()).length).toBeGreaterThanOrEqual(2);
    // SKIP decides at the fire time whether the previous run is still active: its runs are written when due.
    const skipRuns = await times(skip.id);
    expect(skipRuns.length).toBeGreaterThanOrEqual(1);
    for (const r of skipRuns) expect(r.created.getTime()).toBeGreaterThanOrEqual(r.scheduled.getTime());
  });

  it("cancels the runs written ahead when their job is paused, so none of its fires after the pause runs", async () => {
    const job = await fixture.chime.createJob({ name: "paused-ahead", queue: "paused-ahead", schedule: { cron: "* * * * * *" } });
    // Paused once the leader has written a run ahead of its fire time (between half the
    // lookahead and all of it before the fire).
    await waitFor(async () => {
      const { rows } = await fixture.server.pool.query(
        "SELECT 1 FROM runs WHERE job_id = $1 AND dispatch_time IS NULL AND scheduled_time > now() + interval '100 ms'",
        [job.id],
      );
      return rows.length ? true : undefined;
    });
    await fixture.chime.pauseJob(job.id);
    const pausedAt = Date.now();
    await sleep(1500);
    const { rows } = await fixture.server.pool.query<{ scheduled: Date; state: number; dispatched: Date | null; error: string }>(
      "SELECT scheduled_time AS scheduled, state, dispatch_time AS dispatched, error FROM runs WHERE job_id = $1 ORDER BY scheduled_time",
      [job.id],
    );
    const afterPause = rows.filter((r) => r.scheduled.getTime() > pausedAt);
    // The run written ahead is among them.
    expect(afterPause.length).toBeGreaterThanOrEqual(1);
    for (const r of afterPause) expect(r.state).toBe(RunState.CANCELLED);
    expect(rows.filter((r) => r.scheduled.getTime() <= pausedAt).every((r) => r.state === RunState.QUEUED)).toBe(true);
  });

  it("wakes the sleeping leader for a job due sooner than it would wake, not for one due later", async () => {
    const own = await startTestServer();
    try {
      const client = createChimeClient({ baseUrl: own.grpcUrl });
      const passes = () => readMetric(own.httpUrl, "chime_dispatch_passes_total");
      // Settled: elected, first passes done, asleep (nothing is due; it would sleep 30 s).
      let settled = await waitFor(async () => ((await passes()) >= 1 ? passes() : undefined));
      for (let previous = NaN; previous !== settled; ) {
        previous = settled;
        await sleep(1000);
        settled = await passes();
      }
      const later = new Date(Date.now() + 3_600_000);
      for (let i = 0; i < 20; i++) await client.createJob({ name: `later-${i}`, queue: "later", schedule: { at: later } });
      await sleep(500);
      expect(await passes()).toBe(settled);

      const now = await client.createJob({ name: "due-now", queue: "later", schedule: "immediate" });
      const dispatched = await waitFor(async () => {
        const { rows } = await own.pool.query("SELECT 1 FROM runs WHERE job_id = $1 AND dispatch_time IS NOT NULL", [now.id]);
        return rows.length ? true : undefined;
      }, 5000);
      expect(dispatched).toBe(true);
      expect(await passes()).toBeGreaterThan(settled);
    } finally {
      await own.close();
    }
  });
});
