import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import pg from "pg";
import { AlertCondition, AlertDeliveryState, JobChangeKind, JobState, natsLayout, NonRetryableError, RunState, Worker, type WatchJobMessage } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";
import { startWebhookReceiver } from "./helpers/webhook-receiver.js";
import { createLogger } from "../src/logger.js";
import { createAutoPause } from "../src/jobs/auto-pause.js";

const QUIET = createLogger("silent");

// Receivers on loopback: allowlisted, as an operator would for an internal endpoint.
const fixture = useTestServer({ CHIME_HTTP_ALLOWLIST: "127.0.0.1", CHIME_BACKGROUND_INTERVAL_MS: "100" });

let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let pool: pg.Pool;
const workers: Worker[] = [];
beforeAll(async () => {
  receiver = await startWebhookReceiver(0);
  pool = new pg.Pool({ connectionString: fixture.server.db.url, max: 2 });
});
afterAll(async () => {
  for (const worker of workers) await worker.stop();
  await receiver?.close();
  await pool?.end();
});

const alerts = () => fixture.chime.alertService;

interface Body {
  rule: { name: string; condition: string };
  job?: { id: string; name: string };
  run?: { id: string; state: string };
  pause?: { failure_streak: number; last_run_id: string };
  queue?: { name: string; waiting: number; stalled_seconds: number; recovered: boolean };
}
const bodiesOf = (rule: string): Body[] => receiver.received.map((hook) => JSON.parse(hook.body) as Body).filter((body) => body.rule.name === rule);

async function channel(name: string): Promise<string> {
  const { channel } = await alerts().createAlertChannel({ channel: { name, kind: 1, url: receiver.url } });
  return channel!.id;
}

async function startWorker(queue: string, handler: ConstructorParameters<typeof Worker>[0]["handler"]): Promise<Worker> {
  const worker = new Worker({ logger: QUIET, natsUrl: TEST_NATS_URL, prefix: fixture.server.config.natsPrefix, queue, workerId: queue, handler });
  workers.push(worker);
  await worker.start();
  return worker;
}

describe("failure-streak auto-pause", () => {
  it("pauses the job after N failed runs with a job event and one alert; a resume starts a new streak that pauses it again", async () => {
    const channelId = await channel("pause-hook");
    const job = await fixture.chime.createJob({ name: "streaky", queue: "pause-q", schedule: { every: "1h" }, retry: { maxAttempts: 1 }, pauseAfterFailures: 3 });
    expect(job.pauseAfterFailures).toBe(3);
    const { rule } = await alerts().createAlertRule({ rule: { name: "paused", channelId, condition: AlertCondition.JOB_AUTO_PAUSED, jobId: job.id, minInterval: { seconds: 1n } } });
    await startWorker("pause-q", async () => {
      throw new NonRetryableError("broken");
    });

    // A second consumer racing the server's, as another scheduler process would: a streak
    // still pauses once and notifies once, whichever of them consumes its failures.
    let racing = true;
    const rival = createAutoPause(pool);
    const rivalLoop = (async () => {
      while (racing) {
        await rival();
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    // Stopped however the test ends, before the pool closes (the test awaits it on success).
    onTestFinished(async () => {
      racing = false;
      await rivalLoop.catch(() => undefined);
    });

    const messages: WatchJobMessage[] = [];
    const controller = new AbortController();
    const watching = (async () => {
      for await (const message of fixture.chime.watchJob(job.id, { signal: controller.signal })) messages.push(message);
    })().catch(() => undefined);
    await waitFor("the watch's snapshot", () => messages.length >= 1);

    // Runs one after another, each failed before the next: the streak forms in order.
    const failRuns = async (count: number) => {
      const ids: string[] = [];
      for (let i = 0; i < count; i++) {
        const run = await fixture.chime.triggerJob(job.id);
        ids.push(run.id);
        await waitFor(`run ${run.id} to fail`, async () => ((await fixture.chime.getRun(run.id)).state === RunState.FAILED ? true : undefined));
      }
      return ids;
    };
    const pausedJob = () => waitFor("the job auto-paused", async () => {
      const current = await fixture.chime.getJob(job.id);
      return current.state === JobState.PAUSED ? current : undefined;
    });

    const first = await failRuns(3);
    const paused = await pausedJob();
    expect(paused.autoPause?.failureStreak).toBe(3);
    expect(paused.autoPause?.lastRunId).toBe(first[2]);
    await waitFor("one notification", () => (bodiesOf("paused").length === 1 ? true : undefined));
    const [body] = bodiesOf("paused");
    expect(body.rule.condition).toBe("JOB_AUTO_PAUSED");
    expect(body.job).toEqual({ id: job.id, name: "streaky" });
    expect(body.pause).toEqual({ failure_streak: 3, last_run_id: first[2] });
    expect(body.run?.id).toBe(first[2]);
    const autoPaused = await waitFor("the job event", () => messages.find((m) => m.kind === "jobChange" && m.change.kind === JobChangeKind.AUTO_PAUSED));
    expect(autoPaused.kind === "jobChange" && autoPaused.change.job?.autoPause?.lastRunId).toBe(first[2]);

    // A run failing while the job is paused neither pauses it again nor notifies.
    await failRuns(1);
    // Once the auto-pause consumer has read past that failure, nothing more came of it.
    const consumed = await waitFor("the failure consumed", async () => {
      const { rows } = await pool.query<{ behind: boolean }>(
        "SELECT (SELECT cursor FROM event_log_consumers WHERE name = 'auto_pause') >= (SELECT max(cursor) FROM run_event_log WHERE job_id = $1) AS behind",
        [job.id],
      );
      return rows[0].behind || undefined;
    });
    expect(consumed).toBe(true);
    expect(bodiesOf("paused")).toHaveLength(1);

    // Resuming clears the reason and starts a new streak: two failures do not pause, the third does.
    const resumed = await fixture.chime.resumeJob(job.id);
    expect(resumed.state).toBe(JobState.ACTIVE);
    expect(resumed.autoPause).toBeUndefined();
    const second = await failRuns(3);
    const pausedAgain = await pausedJob();
    expect(pausedAgain.autoPause?.lastRunId).toBe(second[2]);
    await waitFor("the second notification", () => (bodiesOf("paused").length === 2 ? true : undefined));
    expect(bodiesOf("paused")[1].pause).toEqual({ failure_streak: 3, last_run_id: second[2] });
    // The receiver has the body before the sender records the delivery as sent.
    await expect
      .poll(async () => (await alerts().listAlertDeliveries({ ruleId: rule!.id })).deliveries.map((d) => d.state), { timeout: 10_000 })
      .toEqual([AlertDeliveryState.SENT, AlertDeliveryState.SENT]);

    await waitFor("the second job event", () => messages.filter((m) => m.kind === "jobChange" && m.change.kind === JobChangeKind.AUTO_PAUSED).length === 2);
    controller.abort();
    await watching;
    racing = false;
    await rivalLoop;
    const changes = messages.flatMap((m) => (m.kind === "jobChange" ? [JobChangeKind[m.change.kind]] : []));
    expect(changes).toEqual(["AUTO_PAUSED", "RESUMED", "AUTO_PAUSED"]);
  });
});

describe("queue stall alerts", () => {
  it("a queue with runs waiting and no worker notifies once after stall_after, not before, and once when a worker is back", async () => {
    // One queue whose consumer a worker left behind (durable, nobody pulling), one that no worker ever consumed.
    const queues = ["left-q", "never-q"];
    const layout = natsLayout(fixture.server.config.natsPrefix);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add(layout.runsStream, { durable_name: layout.queueConsumer(undefined, "left-q"), filter_subject: layout.queueFilter(undefined, "left-q"), ack_policy: AckPolicy.Explicit });
    } finally {
      await nc.close();
    }
    const channelId = await channel("stall-hook");
    const rules = new Map<string, string>();
    for (const queue of queues) {
      const { rule } = await alerts().createAlertRule({
        rule: { name: `stalled-${queue}`, channelId, condition: AlertCondition.QUEUE_STALLED, queue, stallAfter: { seconds: 5n }, minInterval: { seconds: 1n } },
      });
      expect(rule?.queue).toBe(queue);
      expect(rule?.stallAfter?.seconds).toBe(5n);
      rules.set(queue, rule!.id);
    }

    for (const queue of queues) {
      const job = await fixture.chime.createJob({ name: `stuck-${queue}`, queue, schedule: { every: "1h" } });
      for (let i = 0; i < 3; i++) await fixture.chime.triggerJob(job.id);
    }
    // The stalls are seen as they start, and nothing is notified for them yet.
    const stalls = await waitFor("the stalls recorded", async () => {
      const { rows } = await pool.query<{ rule_id: string; since: Date; notified: boolean }>("SELECT rule_id, since, notified FROM queue_stalls");
      return rows.length === 2 ? new Map(rows.map((row) => [row.rule_id, row])) : undefined;
    });
    expect([...stalls.values()].map((stall) => stall.notified)).toEqual([false, false]);
    for (const ruleId of rules.values()) expect((await alerts().listAlertDeliveries({ ruleId })).deliveries).toEqual([]);

    for (const queue of queues) {
      await waitFor(`the stall notification of ${queue}`, () => (bodiesOf(`stalled-${queue}`).length === 1 ? true : undefined), { timeoutMs: 30_000 });
      const [delivery] = (await alerts().listAlertDeliveries({ ruleId: rules.get(queue)! })).deliveries;
      // Raised only once the stall had lasted stall_after (both times by the database's clock).
      const { rows } = await pool.query<{ ms: number }>(
        "SELECT (extract(epoch FROM create_time - $2::timestamptz) * 1000)::float8 AS ms FROM alert_deliveries WHERE id = $1",
        [delivery.id, stalls.get(rules.get(queue)!)!.since],
      );
      expect(rows[0].ms).toBeGreaterThan(5000);
      const [body] = bodiesOf(`stalled-${queue}`);
      expect(body.queue).toEqual({ name: queue, waiting: 3, stalled_seconds: expect.any(Number), recovered: false });
      expect(body.queue!.stalled_seconds).toBeGreaterThanOrEqual(5);
      expect(body.job).toBeUndefined();
    }

    // Still stalled: nothing more while the judgement runs on (the stalls stay notified).
    await waitFor("later passes", async () => (await pool.query("SELECT 1 FROM queue_stalls WHERE notified AND now() > since + interval '7 seconds'")).rowCount === 2, { timeoutMs: 30_000 });
    for (const queue of queues) expect(bodiesOf(`stalled-${queue}`)).toHaveLength(1);

    // Workers consume the queues: one recovery each.
    for (const queue of queues) await startWorker(queue, async () => undefined);
    for (const queue of queues) {
      await waitFor(`the recovery notification of ${queue}`, () => (bodiesOf(`stalled-${queue}`).length === 2 ? true : undefined), { timeoutMs: 30_000 });
      expect(bodiesOf(`stalled-${queue}`)[1].queue?.recovered).toBe(true);
    }
    expect((await pool.query("SELECT 1 FROM queue_stalls")).rowCount).toBe(0);
  });
});

describe("validation", () => {
  const code = async (call: Promise<unknown>) => {
    const error = ConnectError.from(await call.then(() => undefined, (e: unknown) => e));
    return `${Code[error.code]}: ${error.rawMessage}`;
  };

  it("refuses a bad pause_after_failures and bad stall rules, naming the field, and writes nothing", async () => {
    expect(await code(fixture.chime.createJob({ name: "bad-pause", queue: "q", schedule: { every: "1h" }, pauseAfterFailures: -1 }))).toMatch(/^InvalidArgument: job\.pause_after_failures: expected 0 \(never\) to 1000/);
    expect(await code(fixture.chime.createJob({ name: "bad-pause", queue: "q", schedule: { every: "1h" }, pauseAfterFailures: 1001 }))).toMatch(/^InvalidArgument: job\.pause_after_failures/);
    expect((await pool.query("SELECT 1 FROM jobs WHERE name = 'bad-pause'")).rowCount).toBe(0);

    const channelId = await channel("valid-hook");
    const stall = { name: "bad-stall", channelId, condition: AlertCondition.QUEUE_STALLED, queue: "q", stallAfter: { seconds: 30n } };
    expect(await code(alerts().createAlertRule({ rule: { ...stall, queue: "" } }))).toMatch(/^InvalidArgument: rule\.queue: expected 1-64/);
    expect(await code(alerts().createAlertRule({ rule: { ...stall, stallAfter: undefined } }))).toMatch(/^InvalidArgument: rule\.stall_after: expected 1s to 24h/);
    expect(await code(alerts().createAlertRule({ rule: { ...stall, stallAfter: { seconds: 86_401n } } }))).toMatch(/^InvalidArgument: rule\.stall_after/);
    expect(await code(alerts().createAlertRule({ rule: { ...stall, labelSelector: "env=prod" } }))).toMatch(/^InvalidArgument: rule\.label_selector: must be empty for QUEUE_STALLED/);
    expect(await code(alerts().createAlertRule({ rule: { ...stall, condition: AlertCondition.RUN_FAILED } }))).toMatch(/^InvalidArgument: rule\.stall_after: is only for ALERT_CONDITION_QUEUE_STALLED/);
    expect(await code(alerts().createAlertRule({ rule: { name: "bad-stall", channelId, condition: AlertCondition.JOB_AUTO_PAUSED, queue: "q" } }))).toMatch(/^InvalidArgument: rule\.queue: is only for/);
    expect((await alerts().listAlertRules({})).rules.filter((r) => r.name === "bad-stall")).toEqual([]);
    // pause_after_failures is updatable.
    const job = await fixture.chime.createJob({ name: "later-pause", queue: "q", schedule: { every: "1h" } });
    expect((await fixture.chime.updateJob(job.id, { pauseAfterFailures: 5 })).pauseAfterFailures).toBe(5);
  });
});
