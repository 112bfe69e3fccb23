import { afterAll, describe, expect, it } from "vitest";
import { createChimeClient, ScheduleEventReason, type ScheduleEvent, type WatchJobMessage } from "@chime/sdk";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { readMetric } from "./helpers/metrics.js";
import { createTestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function server(env: Record<string, string> = {}, db?: Awaited<ReturnType<typeof createTestDatabase>>): Promise<TestServer> {
  const started = await startTestServer({ CHIME_MISFIRE_THRESHOLD_MS: "500", CHIME_DISPATCH_LOOKAHEAD_MS: "0", ...env }, db ? { db } : {});
  // A server of a database the test shares is stopped by the test or at the end, the database dropped by the test.
  cleanups.push(async () => (db ? started.stop().catch(() => undefined) : started.close()));
  return started;
}

/** The schedule events of a job as stored, oldest first. */
async function storedEvents(target: TestServer, jobId: string) {
  const { rows } = await target.pool.query<{ cursor: string; reason: number; count: number; first_scheduled_time: Date; last_scheduled_time: Date }>(
    "SELECT cursor, reason, count, first_scheduled_time, last_scheduled_time FROM schedule_events WHERE job_id = $1 ORDER BY cursor",
    [jobId],
  );
  return rows;
}

describe("schedule events through a real server", () => {
  it("a SKIP-overlap job whose run stays active records each skipped second, streamed live by WatchJob and counted by reason", async () => {
    const target = await server();
    const chime = createChimeClient({ baseUrl: target.grpcUrl });
    // No worker takes queue "held": its first run stays QUEUED (active), so every later second is skipped.
    const job = await chime.createJob({ name: "overlap-skip", queue: "held", schedule: { cron: "* * * * * *" }, overlap: "skip" });
    const controller = new AbortController();
    const received: ScheduleEvent[] = [];
    const watching = (async () => {
      for await (const message of chime.watchJob(job.id, { signal: controller.signal }) as AsyncGenerator<WatchJobMessage>) {
        if (message.kind === "scheduleEvent") received.push(message.event);
      }
    })().catch(() => undefined);
    await waitFor("three skipped seconds streamed", async () => (received.length >= 3 ? true : undefined), { timeoutMs: 15_000 });
    controller.abort();
    await watching;

    for (const event of received) {
      expect(event.jobId).toBe(job.id);
      expect(event.reason).toBe(ScheduleEventReason.OVERLAP_SKIPPED);
      expect(event.count).toBe(1);
      expect(event.resumeToken).not.toBe("");
    }
    const seconds = received.map((e) => timestampDate(e.firstScheduledTime!).getTime());
    expect(new Set(seconds).size).toBe(seconds.length);
    for (const s of seconds) expect(s % 1000).toBe(0);
    // Exactly one run: the one still active.
    const { rows } = await target.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE job_id = $1", [job.id]);
    expect(rows[0].n).toBe(1);
    // Stored once each, and the stream carried them in cursor order.
    await chime.pauseJob(job.id);
    const stored = await storedEvents(target, job.id);
    expect(stored.slice(0, received.length).map((r) => r.first_scheduled_time.getTime())).toEqual(seconds);
    expect(await readMetric(target.httpUrl, "chime_schedule_events_total", { reason: "overlap_skipped" })).toBe(stored.length);
  });

  it("a paused job records the times it did not fire (PAUSED) when it resumes, in one event", async () => {
    const target = await server();
    const chime = createChimeClient({ baseUrl: target.grpcUrl });
    const job = await chime.createJob({ name: "paused-skip", queue: "p", schedule: { cron: "* * * * * *" }, misfire: "skip" });
    await chime.pauseJob(job.id);
    const pausedAt = Date.now();
    await sleep(3200);
    await chime.resumeJob(job.id);
    const resumedAt = Date.now();
    await chime.pauseJob(job.id);
    const paused = (await storedEvents(target, job.id)).filter((e) => e.reason === ScheduleEventReason.PAUSED);
    expect(paused).toHaveLength(1);
    expect(paused[0].count).toBeGreaterThanOrEqual(3);
    expect(paused[0].first_scheduled_time.getTime()).toBeLessThanOrEqual(pausedAt + 1000);
    expect(paused[0].last_scheduled_time.getTime()).toBeLessThanOrEqual(resumedAt);
    expect(paused[0].last_scheduled_time.getTime() - paused[0].first_scheduled_time.getTime()).toBe((paused[0].count - 1) * 1000);
    expect(await readMetric(target.httpUrl, "chime_schedule_events_total", { reason: "paused" })).toBe(1);
  });

  it("an outage of the only server: SKIP records one MISSED event for the span, RUN_ONCE MISSED and one CAUGHT_UP", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const first = await server({}, db);
    const prefix = first.config.natsPrefix;
    cleanups.push(() => deleteNatsPrefix(prefix));
    const chime = createChimeClient({ baseUrl: first.grpcUrl });
    const skip = await chime.createJob({ name: "outage-skip", queue: "m", schedule: { cron: "* * * * * *" }, misfire: "skip" });
    const once = await chime.createJob({ name: "outage-once", queue: "m", schedule: { cron: "* * * * * *" }, misfire: "run_once" });
    await waitFor("first runs", async () => ((await first.pool.query("SELECT DISTINCT job_id FROM runs")).rowCount === 2 ? true : undefined));
    await first.stop();
    await sleep(4000);
    const second = await server({ CHIME_NATS_PREFIX: prefix }, db);
    await waitFor("the outage decided", async () => ((await storedEvents(second, once.id)).length >= 2 ? true : undefined), { timeoutMs: 15_000 });
    const again = createChimeClient({ baseUrl: second.grpcUrl });
    await again.pauseJob(skip.id);
    await again.pauseJob(once.id);

    const skipEvents = await storedEvents(second, skip.id);
    expect(skipEvents.map((e) => e.reason)).toEqual([ScheduleEventReason.MISSED]);
    expect(skipEvents[0].count).toBeGreaterThanOrEqual(3);
    const onceEvents = await storedEvents(second, once.id);
    expect(onceEvents.map((e) => e.reason)).toEqual([ScheduleEventReason.MISSED, ScheduleEventReason.CAUGHT_UP]);
    const [missed, caughtUp] = onceEvents;
    expect(caughtUp.count).toBe(1);
    // The catch-up run is the second after the last missed one, and it exists as a run.
    expect(caughtUp.first_scheduled_time.getTime()).toBe(missed.last_scheduled_time.getTime() + 1000);
    const runs = await second.pool.query("SELECT 1 FROM runs WHERE job_id = $1 AND scheduled_time = $2", [once.id, caughtUp.first_scheduled_time]);
    expect(runs.rowCount).toBe(1);
    expect(await readMetric(second.httpUrl, "chime_schedule_events_total", { reason: "missed" })).toBe(2);
    expect(await readMetric(second.httpUrl, "chime_schedule_events_total", { reason: "caught_up" })).toBe(1);
  });
});
