import { createHmac } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { AlertChannelKind, AlertCondition, AlertDeliveryState, NonRetryableError, RunState, Worker, type AlertDelivery } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";
import { startWebhookReceiver } from "./helpers/webhook-receiver.js";
import { readMetric } from "./helpers/metrics.js";
import { createLogger } from "../src/logger.js";

const QUIET = createLogger("silent");

// Receivers on loopback: allowlisted, as an operator would for an internal endpoint.
const fixture = useTestServer({ CHIME_HTTP_ALLOWLIST: "127.0.0.1", CHIME_BACKGROUND_INTERVAL_MS: "100" });

let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let worker: Worker;
beforeAll(async () => {
  receiver = await startWebhookReceiver(1);
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
});

const alerts = () => fixture.chime.alertService;

async function deliveriesOf(ruleId: string): Promise<AlertDelivery[]> {
  return (await alerts().listAlertDeliveries({ ruleId })).deliveries;
}

describe("alerts", () => {
  it("a job failing three times: one signed notification per failure rule, one for the streak, the refused first delivery retried and recorded", async () => {
    const { channel } = await alerts().createAlertChannel({
      channel: { namespace: "team", name: "ops-hook", kind: AlertChannelKind.WEBHOOK, url: receiver.url },
    });
    const secret = channel!.secret;
    expect(secret.length).toBeGreaterThanOrEqual(32);
    // Listed without the secret: it is shown once.
    expect((await alerts().listAlertChannels({ namespace: "team" })).channels.map((c) => c.secret)).toEqual([""]);

    const job = await fixture.chime.createJob({ namespace: "team", name: "flaky", queue: "alerts-q", schedule: { every: "1h" }, retry: { maxAttempts: 1 } });
    const other = await fixture.chime.createJob({ namespace: "team", name: "fine", queue: "alerts-q", schedule: { every: "1h" } });
    const failed = await alerts().createAlertRule({
      rule: { namespace: "team", name: "flaky-failed", channelId: channel!.id, condition: AlertCondition.RUN_FAILED, jobId: job.id, minInterval: { seconds: 1n } },
    });
    const streak = await alerts().createAlertRule({
      rule: { namespace: "team", name: "flaky-streak", channelId: channel!.id, condition: AlertCondition.CONSECUTIVE_FAILURES, threshold: 3, jobId: job.id, minInterval: { seconds: 1n } },
    });

    worker = new Worker({
      // The runs fail on purpose: their "run failed" warnings would only clutter the test output.
      logger: QUIET,
      natsUrl: TEST_NATS_URL,
      prefix: fixture.server.config.natsPrefix,
      queue: "alerts-q",
      workerId: "a",
      handler: async (run) => {
        if (run.jobId === job.id) throw new NonRetryableError(`broken ${run.runId}`);
      },
    });
    await worker.start();
    // Runs one after another, each ended before the next: the streak forms in order.
    const runIds: string[] = [];
    for (let i = 0; i < 3; i++) {
      const run = await fixture.chime.triggerJob(job.id);
      runIds.push(run.id);
      await waitFor(`run ${i + 1} to fail`, async () => ((await fixture.chime.getRun(run.id)).state === RunState.FAILED ? true : undefined));
      // A success of another job notifies nobody.
      await fixture.chime.triggerJob(other.id);
    }

    await waitFor("every notification sent", async () => {
      const ofFailed = await deliveriesOf(failed.rule!.id);
      const ofStreak = await deliveriesOf(streak.rule!.id);
      const sent = [...ofFailed, ...ofStreak].filter((d) => d.state === AlertDeliveryState.SENT);
      const count = ofFailed.filter((d) => d.state === AlertDeliveryState.SENT).reduce((n, d) => n + d.eventCount, 0);
      return count === 3 && ofStreak.length === 1 && sent.length === ofFailed.length + 1 ? { ofFailed, ofStreak } : undefined;
    });

    // Every body the receiver got is signed with the channel's secret.
    const bodies = receiver.received.map(({ body, headers }) => {
      const [t, v1] = String(headers["chime-signature"]).split(",").map((part) => part.split("=")[1]);
      expect(v1).toBe(createHmac("sha256", secret).update(`${t}.${body}`).digest("hex"));
      expect(Math.abs(Number(t) - Date.now() / 1000)).toBeLessThan(120);
      return JSON.parse(body) as { rule: { name: string }; job: { id: string; name: string }; run: { id: string; state: string; error: string }; count: number; last_run?: { id: string } };
    });
    const streakBodies = bodies.filter((b) => b.rule.name === "flaky-streak");
    expect(streakBodies).toHaveLength(1);
    expect(streakBodies[0].run.id).toBe(runIds[2]);
    const failedBodies = bodies.filter((b) => b.rule.name === "flaky-failed");
    expect(failedBodies.reduce((n, b) => n + b.count, 0)).toBe(3);
    for (const body of failedBodies) {
      expect(body.job).toEqual({ id: job.id, name: "flaky" });
      expect(body.run.state).toBe("FAILED");
      expect(body.run.error).toContain("broken");
    }
    // Notified in order: the first body opens with the first failure, the last ends with the third.
    const mentioned = failedBodies.flatMap((b) => [b.run.id, ...(b.last_run ? [b.last_run.id] : [])]);
    expect(mentioned[0]).toBe(runIds[0]);
    expect(mentioned[mentioned.length - 1]).toBe(runIds[2]);

    // The history: the first delivery was refused (HTTP 500) once and retried.
    const history = [...(await deliveriesOf(failed.rule!.id)), ...(await deliveriesOf(streak.rule!.id))];
    const retried = history.filter((d) => d.attempts === 2);
    expect(retried).toHaveLength(1);
    expect(retried[0].lastError).toBe("HTTP 500");
    expect(retried[0].state).toBe(AlertDeliveryState.SENT);
    expect(history.every((d) => d.sentTime !== undefined)).toBe(true);
    expect(await readMetric(fixture.server.httpUrl, "chime_alert_deliveries_total", { outcome: "retry" })).toBe(1);
    expect(await readMetric(fixture.server.httpUrl, "chime_alert_deliveries_total", { outcome: "sent" })).toBe(history.length);
  });

  it("a storm within the rule's interval is one notification with a count", async () => {
    const storm = await startWebhookReceiver(0);
    try {
      const { channel } = await alerts().createAlertChannel({ channel: { name: "storm-hook", kind: AlertChannelKind.WEBHOOK, url: storm.url } });
      const job = await fixture.chime.createJob({ name: "storm", queue: "nobody-q", schedule: { every: "1h" } });
      const { rule } = await alerts().createAlertRule({
        rule: { name: "storm-ended", channelId: channel!.id, condition: AlertCondition.RUN_ENDED, jobId: job.id, minInterval: { seconds: 3600n } },
      });
      // The first ended run is notified at once; the rest wait for the interval, counted into one.
      const first = await fixture.chime.triggerJob(job.id);
      await fixture.chime.cancelRun(first.id);
      await waitFor("the first notification", async () => (storm.received.length === 1 ? true : undefined));
      for (let i = 0; i < 20; i++) await fixture.chime.cancelRun((await fixture.chime.triggerJob(job.id)).id);
      await waitFor("the storm counted into one waiting delivery", async () => {
        const deliveries = await deliveriesOf(rule!.id);
        return deliveries.length === 2 && deliveries[0].eventCount === 20 ? deliveries : undefined;
      });
      const [waiting, sent] = await deliveriesOf(rule!.id);
      expect(waiting.state).toBe(AlertDeliveryState.PENDING);
      expect(sent.state).toBe(AlertDeliveryState.SENT);
      expect(storm.received).toHaveLength(1);
    } finally {
      await storm.close();
    }
  });

  it("bad channels and rules are refused with the field named, and nothing is written", async () => {
    const code = async (call: Promise<unknown>) => {
      const error = ConnectError.from(await call.then(() => undefined, (e: unknown) => e));
      return `${Code[error.code]}: ${error.rawMessage}`;
    };
    expect(await code(alerts().createAlertChannel({ channel: { name: "x", kind: AlertChannelKind.WEBHOOK, url: "ftp://example.com" } }))).toMatch(/^InvalidArgument: channel\.url: expected an http or https URL/);
    expect(await code(alerts().createAlertChannel({ channel: { name: "x", url: "https://example.com" } }))).toMatch(/^InvalidArgument: channel\.kind/);
    const { channel } = await alerts().createAlertChannel({ channel: { name: "valid", kind: AlertChannelKind.SLACK, url: "https://hooks.example.com/x" } });
    expect(await code(alerts().createAlertChannel({ channel: { name: "valid", kind: AlertChannelKind.SLACK, url: "https://hooks.example.com/x" } }))).toMatch(/^AlreadyExists: channel\.name/);
    const rule = { name: "r", channelId: channel!.id, condition: AlertCondition.CONSECUTIVE_FAILURES, threshold: 1 };
    expect(await code(alerts().createAlertRule({ rule }))).toMatch(/^InvalidArgument: rule\.threshold: expected 2 to 1000/);
    expect(await code(alerts().createAlertRule({ rule: { ...rule, threshold: 2, minInterval: { nanos: 5 } } }))).toMatch(/^InvalidArgument: rule\.min_interval/);
    expect(await code(alerts().createAlertRule({ rule: { ...rule, threshold: 2, labelSelector: "a b=c" } }))).toMatch(/^InvalidArgument: rule\.label_selector/);
    // A channel or job the rule's namespace has not is NOT_FOUND (a rule cannot reach across namespaces).
    expect(await code(alerts().createAlertRule({ rule: { ...rule, threshold: 2, namespace: "elsewhere" } }))).toMatch(/^NotFound: rule\.channel_id: no alert channel/);
    const elsewhere = await fixture.chime.createJob({ namespace: "elsewhere", name: "not-default", queue: "nobody-q", schedule: { every: "1h" } });
    expect(await code(alerts().createAlertRule({ rule: { ...rule, threshold: 2, jobId: elsewhere.id } }))).toMatch(/^NotFound: rule\.job_id: no job .* in namespace "default"/);
    expect(await code(alerts().createAlertRule({ rule: { ...rule, threshold: 2, jobId: "nope" } }))).toMatch(/^InvalidArgument: rule\.job_id/);
    expect((await alerts().listAlertRules({})).rules.filter((r) => r.name === "r")).toEqual([]);
    expect(await code(alerts().deleteAlertRule({ id: "00000000-0000-4000-8000-000000000000" }))).toMatch(/^NotFound/);
    // Deleting a channel deletes its rules.
    const { rule: kept } = await alerts().createAlertRule({ rule: { ...rule, threshold: 2 } });
    await alerts().deleteAlertChannel({ id: channel!.id });
    expect((await alerts().listAlertRules({})).rules.map((r) => r.id)).not.toContain(kept!.id);
  });
});
