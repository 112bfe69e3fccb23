import { createHmac } from "node:crypto";
import { afterAll, expect, it } from "vitest";
import { AlertChannelKind, AlertCondition, AlertDeliveryState, createChimeClient, ScheduleEventReason } from "@chime/sdk";
import { createTestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { startWebhookReceiver } from "./helpers/webhook-receiver.js";

/**
 * FIRE_MISSED and FIRE_LATE rules, end to end: the only server stops and restarts on one
 * database, the scheduler records MISSED or LATE schedule events as it catches up, and the
 * rules' webhook (a local receiver, allowlisted) gets one signed notification each.
 */
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface Body {
  rule: { id: string; name: string; condition: string };
  namespace: string;
  job: { id: string; name: string };
  count: number;
  schedule_event: { reason: string; count: number; first_scheduled_time: string; last_scheduled_time: string; time: string };
  run?: unknown;
}

it("an outage past the misfire threshold notifies FIRE_MISSED with the dropped times; a shorter restart notifies FIRE_LATE with the fires it delayed past max_lag", { timeout: 90_000 }, async () => {
  const db = await createTestDatabase();
  cleanups.push(() => db.drop());
  // The first notification is refused once: its delivery is retried, as the history shows.
  const receiver = await startWebhookReceiver(1);
  cleanups.push(() => receiver.close());
  const base = { CHIME_HTTP_ALLOWLIST: "127.0.0.1", CHIME_BACKGROUND_INTERVAL_MS: "100", CHIME_DISPATCH_LOOKAHEAD_MS: "0" };
  let prefix = "";
  const start = async (misfireThresholdMs: number): Promise<TestServer> => {
    const server = await startTestServer({ ...base, CHIME_MISFIRE_THRESHOLD_MS: String(misfireThresholdMs), ...(prefix ? { CHIME_NATS_PREFIX: prefix } : {}) }, { db });
    if (!prefix) {
      prefix = server.config.natsPrefix;
      cleanups.push(() => deleteNatsPrefix(prefix));
    }
    cleanups.push(() => server.stop().catch(() => undefined));
    return server;
  };
  const bodies = (rule: string): Body[] => receiver.received.map((hook) => JSON.parse(hook.body) as Body).filter((body) => body.rule.name === rule);

  const first = await start(1000);
  const chime = createChimeClient({ baseUrl: first.grpcUrl });
  const { channel } = await chime.alertService.createAlertChannel({ channel: { name: "schedule-hook", kind: AlertChannelKind.WEBHOOK, url: receiver.url } });
  const job = await chime.createJob({ name: "every-second", queue: "nobody", schedule: { cron: "* * * * * *" }, misfire: "skip", maxLag: "200ms", labels: { team: "a" } });
  await chime.createJob({ name: "not-watched", queue: "nobody", schedule: { cron: "* * * * * *" }, misfire: "skip", maxLag: "200ms", labels: { team: "b" } });
  const minInterval = { seconds: 1n };
  await chime.alertService.createAlertRule({ rule: { name: "missed", channelId: channel!.id, condition: AlertCondition.FIRE_MISSED, labelSelector: "team=a", minInterval } });
  await chime.alertService.createAlertRule({ rule: { name: "late", channelId: channel!.id, condition: AlertCondition.FIRE_LATE, jobId: job.id, minInterval } });
  await waitFor("a first run", async () => ((await first.pool.query("SELECT 1 FROM runs WHERE job_id = $1", [job.id])).rowCount! > 0 ? true : undefined));

  // 3 s down, threshold 1 s: the times of the outage are missed, and SKIP drops them.
  await first.stop();
  await sleep(3000);
  const second = await start(1000);
  const [missed] = await waitFor("the FIRE_MISSED notification", () => (bodies("missed").length > 0 ? bodies("missed") : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  expect(missed.rule.condition).toBe("FIRE_MISSED");
  expect(missed.job).toEqual({ id: job.id, name: "every-second" });
  expect(missed.run).toBeUndefined();
  const { rows: stored } = await second.pool.query<{ count: number; first_scheduled_time: Date; last_scheduled_time: Date }>(
    "SELECT count, first_scheduled_time, last_scheduled_time FROM schedule_events WHERE job_id = $1 AND reason = $2",
    [job.id, ScheduleEventReason.MISSED],
  );
  expect(stored).toHaveLength(1);
  expect(missed.schedule_event).toMatchObject({
    reason: "MISSED",
    count: stored[0].count,
    first_scheduled_time: stored[0].first_scheduled_time.toISOString(),
    last_scheduled_time: stored[0].last_scheduled_time.toISOString(),
  });
  expect(missed.schedule_event.count).toBeGreaterThanOrEqual(2);

  // 1.5 s down, threshold 10 s: the delayed times fire, late past the job's 200 ms max_lag.
  await second.stop();
  await sleep(1500);
  const third = await start(10_000);
  const [late] = await waitFor("the FIRE_LATE notification", () => (bodies("late").length > 0 ? bodies("late") : undefined), { timeoutMs: 20_000, intervalMs: 100 });
  expect(late.rule.condition).toBe("FIRE_LATE");
  expect(late.job.id).toBe(job.id);
  expect(late.schedule_event.reason).toBe("LATE");
  expect(new Date(late.schedule_event.time).getTime() - new Date(late.schedule_event.last_scheduled_time).getTime()).toBeGreaterThan(200);
  const lateRuns = await third.pool.query("SELECT 1 FROM runs WHERE job_id = $1 AND scheduled_time BETWEEN $2 AND $3", [
    job.id,
    new Date(late.schedule_event.first_scheduled_time),
    new Date(late.schedule_event.last_scheduled_time),
  ]);
  expect(lateRuns.rowCount).toBe(late.schedule_event.count);

  // Signed with the channel's secret; the other job (team b, not the late rule's job) notified nothing.
  for (const hook of receiver.received) {
    const [t, v1] = String(hook.headers["chime-signature"]).split(",").map((part) => part.split("=")[1]);
    expect(v1).toBe(createHmac("sha256", channel!.secret).update(`${t}.${hook.body}`).digest("hex"));
  }
  expect(receiver.received.map((hook) => (JSON.parse(hook.body) as Body).job.id).every((id) => id === job.id)).toBe(true);
  const alerts = createChimeClient({ baseUrl: third.grpcUrl }).alertService;
  // The history: both sent, the refused one after a second attempt.
  const history = await waitFor("the deliveries recorded sent", async () => {
    const { deliveries } = await alerts.listAlertDeliveries({});
    const sent = deliveries.filter((d) => d.state === AlertDeliveryState.SENT);
    return sent.length >= 2 ? sent : undefined;
  });
  expect(history.some((d) => d.attempts >= 2)).toBe(true);
});
