import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
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

  it("fires a restart delays by less than the misfire threshold run late and are recorded LATE, past the job's max_lag", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    // A 10 s threshold: the times the restart delays are late, not missed.
    const env = { CHIME_MISFIRE_THRESHOLD_MS: "10000" };
    const first = await server(env, db);
    const prefix = first.config.natsPrefix;
    cleanups.push(() => deleteNatsPrefix(prefix));
    const chime = createChimeClient({ baseUrl: first.grpcUrl });
    const job = await chime.createJob({ name: "late", queue: "late-q", schedule: { cron: "* * * * * *" }, maxLag: "200ms" });
    await waitFor("a first run", async () => ((await first.pool.query("SELECT 1 FROM runs WHERE job_id = $1", [job.id])).rowCount! > 0 ? true : undefined));
    await first.stop();
    await sleep(1500);
    const second = await server({ ...env, CHIME_NATS_PREFIX: prefix }, db);
    const again = createChimeClient({ baseUrl: second.grpcUrl });
    const late = await waitFor("a LATE event", async () => {
      const { events } = await again.jobService.listScheduleEvents({ jobId: job.id });
      const found = events.filter((e) => e.reason === ScheduleEventReason.LATE);
      return found.length > 0 ? found : undefined;
    }, { timeoutMs: 15_000, intervalMs: 250 });
    await again.pauseJob(job.id);

    const { events } = await again.jobService.listScheduleEvents({ jobId: job.id });
    expect(events.some((e) => e.reason === ScheduleEventReason.MISSED)).toBe(false);
    const [event] = late;
    expect(event.count).toBeGreaterThanOrEqual(1);
    // Decided more than max_lag after its last time, and each time it names fired: its run exists.
    expect(timestampDate(event.time!).getTime() - timestampDate(event.lastScheduledTime!).getTime()).toBeGreaterThan(200);
    const { rows } = await second.pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM runs WHERE job_id = $1 AND scheduled_time BETWEEN $2 AND $3",
      [job.id, timestampDate(event.firstScheduledTime!), timestampDate(event.lastScheduledTime!)],
    );
    expect(rows[0].n).toBe(event.count);
    expect(await readMetric(second.httpUrl, "chime_schedule_events_total", { reason: "late" })).toBeGreaterThanOrEqual(1);
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

  it("ListScheduleEvents names a bad field (INVALID_ARGUMENT) and an unknown job (NOT_FOUND)", async () => {
    const target = await server();
    const chime = createChimeClient({ baseUrl: target.grpcUrl });
    const codeOf = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => ConnectError.from(e));
    const badId = await codeOf(chime.jobService.listScheduleEvents({ jobId: "nope" }));
    expect([badId?.code, badId?.rawMessage]).toEqual([Code.InvalidArgument, expect.stringContaining("job_id")]);
    const job = await chime.createJob({ name: "listed", queue: "l", schedule: { cron: "0 0 0 1 1 *" } });
    const badToken = await codeOf(chime.jobService.listScheduleEvents({ jobId: job.id, pageToken: "x" }));
    expect([badToken?.code, badToken?.rawMessage]).toEqual([Code.InvalidArgument, expect.stringContaining("page_token")]);
    const badSize = await codeOf(chime.jobService.listScheduleEvents({ jobId: job.id, pageSize: -1 }));
    expect([badSize?.code, badSize?.rawMessage]).toEqual([Code.InvalidArgument, expect.stringContaining("page_size")]);
    const missing = await codeOf(chime.jobService.listScheduleEvents({ jobId: "00000000-0000-4000-8000-000000000000" }));
    expect(missing?.code).toBe(Code.NotFound);
    expect((await chime.jobService.listScheduleEvents({ jobId: job.id })).events).toEqual([]);
  });

  it("max_lag is validated (INVALID_ARGUMENT naming it, nothing written) and stored", async () => {
    const target = await server();
    const chime = createChimeClient({ baseUrl: target.grpcUrl });
    const spec = { name: "lagged", queue: "l", schedule: { kind: { case: "cron" as const, value: { expression: "0 0 0 1 1 *" } } } };
    for (const [maxLag, message] of [
      [{ seconds: -1n }, "must not be negative"],
      [{ seconds: 86_401n }, "must be at most"],
    ] as const) {
      const refused = await chime.jobService.createJob({ job: { ...spec, maxLag } }).then(() => undefined, (e: unknown) => ConnectError.from(e));
      expect([refused?.code, refused?.rawMessage]).toEqual([Code.InvalidArgument, expect.stringMatching(new RegExp(`job.max_lag.*${message}`))]);
    }
    expect((await target.pool.query("SELECT 1 FROM jobs")).rowCount).toBe(0);
    const { job } = await chime.jobService.createJob({ job: { ...spec, maxLag: { seconds: 2n } } });
    expect(job?.maxLag?.seconds).toBe(2n);
    expect((await chime.jobService.getJob({ id: job!.id })).job?.maxLag?.seconds).toBe(2n);
  });

  it("an outage of the only server: SKIP records one MISSED event for the span, RUN_ONCE MISSED and one CAUGHT_UP, a one-off run late nothing", async () => {
    const db = await createTestDatabase();
    cleanups.push(() => db.drop());
    const first = await server({}, db);
    const prefix = first.config.natsPrefix;
    cleanups.push(() => deleteNatsPrefix(prefix));
    const chime = createChimeClient({ baseUrl: first.grpcUrl });
    const skip = await chime.createJob({ name: "outage-skip", queue: "m", schedule: { cron: "* * * * * *" }, misfire: "skip" });
    const once = await chime.createJob({ name: "outage-once", queue: "m", schedule: { cron: "* * * * * *" }, misfire: "run_once" });
    await waitFor("first runs", async () => ((await first.pool.query("SELECT DISTINCT job_id FROM runs")).rowCount === 2 ? true : undefined));
    // A one-off due during the outage: it runs late, and that alone is no schedule event.
    const oneOff = await chime.createJob({ name: "outage-one-off", queue: "m", schedule: { at: new Date(Date.now() + 1500) }, misfire: "run_once" });
    await first.stop();
    await sleep(4000);
    const second = await server({ CHIME_NATS_PREFIX: prefix }, db);
    await waitFor("the outage decided", async () => ((await storedEvents(second, once.id)).length >= 2 ? true : undefined), { timeoutMs: 15_000 });
    await waitFor("the one-off's late run", async () => ((await second.pool.query("SELECT 1 FROM runs WHERE job_id = $1", [oneOff.id])).rowCount === 1 ? true : undefined));
    expect(await storedEvents(second, oneOff.id)).toEqual([]);
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
    // ListScheduleEvents reads them back after the fact, a page at a time, as stored.
    const listed = [];
    let pageToken = "";
    do {
      const page = await again.jobService.listScheduleEvents({ jobId: once.id, pageSize: 1, pageToken });
      expect(page.events.length).toBeLessThanOrEqual(1);
      listed.push(...page.events);
      pageToken = page.nextPageToken;
    } while (pageToken);
    expect(listed.map((e) => [e.reason, e.count, timestampDate(e.firstScheduledTime!).getTime(), timestampDate(e.lastScheduledTime!).getTime()])).toEqual(
      onceEvents.map((e) => [e.reason, e.count, e.first_scheduled_time.getTime(), e.last_scheduled_time.getTime()]),
    );
    expect(await readMetric(second.httpUrl, "chime_schedule_events_total", { reason: "missed" })).toBe(2);
    expect(await readMetric(second.httpUrl, "chime_schedule_events_total", { reason: "caught_up" })).toBe(1);
  });
});
