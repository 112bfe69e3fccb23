import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NonRetryableError, RunState, Worker, createChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "../../server/test/helpers/test-server.js";
import { TEST_NATS_URL } from "../../server/test/helpers/env.js";
import { waitFor } from "../../server/test/helpers/wait.js";
import { startWebhookReceiver } from "../../server/test/helpers/webhook-receiver.js";
import { createLogger } from "../../server/src/logger.js";
import { runChime, type CliResult } from "./run-cli.js";

// `chime alert` and `chime stats` against a real server: a channel and a rule made with the
// CLI notify a local receiver (allowlisted loopback) when a job's run fails, the CLI lists the
// delivery, and the job's and queue's figures show that run.
let server: TestServer;
let receiver: Awaited<ReturnType<typeof startWebhookReceiver>>;
let worker: Worker | undefined;
beforeAll(async () => {
  server = await startTestServer({ CHIME_HTTP_ALLOWLIST: "127.0.0.1", CHIME_BACKGROUND_INTERVAL_MS: "100" });
  receiver = await startWebhookReceiver();
});
afterAll(async () => {
  await worker?.stop();
  await receiver?.close();
  await server?.close();
});

const chime = (args: string[]): Promise<CliResult> => runChime(server.grpcUrl, args);

async function json<T = Record<string, unknown>>(args: string[]): Promise<T> {
  const result = await chime([...args, "--output", "json"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout) as T;
}

describe("chime alert", () => {
  it("channel create shows the secret once; rule create, list; a failed run's notification in deliveries; delete", async () => {
    const channel = await json(["alert", "channel", "create", "--namespace", "ops", "--name", "hook", "--kind", "webhook", "--url", receiver.url]);
    expect(channel).toMatchObject({ namespace: "ops", name: "hook", kind: "ALERT_CHANNEL_KIND_WEBHOOK", url: receiver.url });
    expect(channel.secret).toEqual(expect.stringMatching(/.{32,}/));
    const channels = await json<Array<Record<string, unknown>>>(["alert", "channel", "list", "--namespace", "ops"]);
    expect(channels.map((c) => [c.id, c.secret])).toEqual([[channel.id, ""]]);
    const channelTable = await chime(["alert", "channel", "list"]);
    expect(channelTable.stdout.split("\n")[0]).toMatch(/^ID\s+NAMESPACE\s+NAME\s+KIND\s+URL\s+CREATED$/);
    expect(channelTable.stdout).toMatch(new RegExp(`^${channel.id as string}\\s+ops\\s+hook\\s+WEBHOOK\\s`, "m"));

    const job = await json(["job", "create", "--namespace", "ops", "--name", "nightly", "--queue", "cli-alert-q", "--every", "1h", "--max-attempts", "1"]);
    const rule = await json(["alert", "rule", "create", "--namespace", "ops", "--name", "nightly-failed", "--channel", channel.id as string, "--on", "run_failed", "--job", job.id as string, "--min-interval", "1s"]);
    expect(rule).toMatchObject({ name: "nightly-failed", condition: "ALERT_CONDITION_RUN_FAILED", jobId: job.id, minInterval: "1s" });
    const streak = await chime(["alert", "rule", "create", "--namespace", "ops", "--name", "streak", "--channel", channel.id as string, "--on", "consecutive_failures", "--threshold", "3"]);
    expect(streak.code).toBe(0);
    expect(streak.stdout).toMatch(/^condition:\s+CONSECUTIVE_FAILURES$/m);
    expect(streak.stdout).toMatch(/^watches:\s+every job \(3 in a row\)$/m);
    const rules = await chime(["alert", "rule", "list", "--namespace", "ops"]);
    expect(rules.stdout.split("\n")[0]).toMatch(/^ID\s+NAMESPACE\s+NAME\s+CONDITION\s+WATCHES\s+CHANNEL\s+AT MOST EVERY$/);
    expect(rules.stdout).toMatch(new RegExp(`^${rule.id as string}\\s+ops\\s+nightly-failed\\s+RUN_FAILED\\s+job ${job.id as string}\\s+${channel.id as string}\\s+1s$`, "m"));

    worker = new Worker({
      logger: createLogger("silent"),
      natsUrl: TEST_NATS_URL,
      prefix: server.config.natsPrefix,
      queue: "cli-alert-q",
      workerId: "cli-alert",
      handler: async () => {
        throw new NonRetryableError("disk full");
      },
    });
    await worker.start();
    const client = createChimeClient({ baseUrl: server.grpcUrl });
    const run = await client.triggerJob(job.id as string);
    await waitFor("the run to fail", async () => ((await client.getRun(run.id)).state === RunState.FAILED ? true : undefined));

    const sent = await waitFor("the notification sent", async () => {
      const deliveries = await json<Array<Record<string, unknown>>>(["alert", "deliveries", "--rule", rule.id as string]);
      return deliveries.length === 1 && deliveries[0]!.state === "ALERT_DELIVERY_STATE_SENT" ? deliveries[0] : undefined;
    });
    expect(sent).toMatchObject({ ruleId: rule.id, channelId: channel.id, eventCount: 1, attempts: 1 });
    expect(JSON.stringify(sent.payload)).toContain("disk full");
    expect(receiver.received).toHaveLength(1);
    expect(await json(["alert", "deliveries", "--namespace", "elsewhere"])).toEqual([]);
    const table = await chime(["alert", "deliveries", "--namespace", "ops"]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+CREATED\s+RULE\s+STATE\s+EVENTS\s+ATTEMPTS\s+SENT\s+LAST ERROR$/);
    expect(table.stdout).toMatch(new RegExp(`\\s${rule.id as string}\\s+SENT\\s+1\\s+1\\s`));

    // chime stats: the job's and the queue's figures show the failed run.
    const jobStats = await chime(["stats", "job", job.id as string, "--window", "1h"]);
    expect(jobStats.code).toBe(0);
    expect(jobStats.stdout).toMatch(/^ended:\s+1 \(succeeded 0, failed 1, timed out 0, cancelled 0\)$/m);
    expect(jobStats.stdout).toMatch(/^success rate:\s+0\.0%$/m);
    expect(await json(["stats", "job", job.id as string])).toMatchObject({ ended: { failed: "1", succeeded: "0" }, active: { queued: "0" } });
    const queueStats = await waitFor("the queue's rollup", async () => {
      const stats = await json<{ ended?: { failed?: string } }>(["stats", "queue", "cli-alert-q", "--namespace", "ops", "--window", "5m"]);
      return stats.ended?.failed === "1" ? stats : undefined;
    });
    expect(queueStats).toMatchObject({ ended: { failed: "1" } });
    expect((await chime(["stats", "queue", "cli-alert-q"])).stdout).toMatch(/^jetstream:\s+waiting 0, in flight 0, idle worker pulls \d+$/m);

    expect(await json(["alert", "rule", "delete", rule.id as string])).toEqual({ id: rule.id, deleted: true });
    expect((await chime(["alert", "channel", "delete", channel.id as string])).stdout).toBe(`deleted ${channel.id as string}\n`);
    expect(await json(["alert", "rule", "list", "--namespace", "ops"])).toEqual([]);
  });

  it("exits by error class, naming the field", async () => {
    expect(await chime(["alert", "channel", "create", "--name", "x", "--kind", "email", "--url", "https://example.com"])).toMatchObject({
      code: 3,
      stderr: 'chime: --kind: "email" is not one of webhook, slack\n',
    });
    const badUrl = await chime(["alert", "channel", "create", "--name", "x", "--kind", "slack", "--url", "ftp://example.com"]);
    expect(badUrl.code).toBe(3);
    expect(badUrl.stderr).toMatch(/^chime: .*channel\.url/);
    expect(await chime(["alert", "rule", "create", "--name", "r", "--channel", "c", "--on", "sometimes"])).toMatchObject({ code: 3, stderr: expect.stringMatching(/^chime: --on: "sometimes" is not one of run_failed, /) });
    expect(await chime(["alert", "rule", "create", "--name", "r", "--channel", "c", "--on", "run_failed", "--min-interval", "often"])).toMatchObject({
      code: 3,
      stderr: 'chime: --min-interval: "often" is not a duration (e.g. 30s, 5m, 1h)\n',
    });
    expect(await chime(["alert", "deliveries", "--limit", "5000"])).toMatchObject({ code: 3, stderr: "chime: --limit: 5000 is more than 1000\n" });
    expect((await chime(["alert", "rule", "delete", "00000000-0000-0000-0000-000000000000"])).code).toBe(4);
    expect((await chime(["stats", "job", "00000000-0000-0000-0000-000000000000"])).code).toBe(4);
    expect(await chime(["stats", "queue", "q", "--window", "forever"])).toMatchObject({ code: 3, stderr: 'chime: --window: "forever" is not a duration (e.g. 30s, 5m, 1h)\n' });
  });
});
