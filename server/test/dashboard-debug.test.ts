import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type Page } from "playwright-core";
import type { JsonObject } from "@bufbuild/protobuf";
import { AlertChannelKind, AlertCondition, createChimeClient, RunState, Worker, type ChimeClient } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";
import { startWebhookReceiver } from "./helpers/webhook-receiver.js";
import { createLogger } from "../src/logger.js";

const QUIET = createLogger("silent");

/**
 * The dashboard's debugging pages end to end: headless Chromium against a real server
 * (Postgres, NATS, scheduler, stats rollup, alert sender) with a real SDK Worker whose
 * runs succeed, fail, or fail once and then succeed. Screenshots of every page, light
 * and dark, go to test-output/screenshots/.
 */

// What the page.evaluate callback touches in the browser (this project compiles without the DOM library).
declare const document: { documentElement: { scrollWidth: number } };

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = path.join(ROOT, "dashboard/dist");
const SHOTS = path.join(ROOT, "test-output/screenshots");
const CHROMIUM = process.env.CHIME_TEST_CHROMIUM ?? "/usr/bin/chromium";
const QUEUE = "debug-q";

let server: TestServer;
let chime: ChimeClient;
let browser: Browser;
let page: Page;
let worker: Worker;
/** Console errors and uncaught exceptions; the last test expects none. */
const problems: string[] = [];
/** Resolves the handler of "slow" runs waiting for it (the test decides when they end). */
let releaseSlow: () => void = () => undefined;
let slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));

async function shoot(name: string): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(SHOTS, `${name}-${scheme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

/** Triggers a run of the job and waits until it ends in `state`. */
async function runTo(jobId: string, state: RunState): Promise<string> {
  const run = await chime.triggerJob(jobId);
  await waitFor(`run ${run.id} to end`, async () => (await chime.getRun(run.id)).state === state, { timeoutMs: 15_000 });
  return run.id;
}

beforeAll(async () => {
  if (!existsSync(path.join(DIST, "index.html"))) {
    execFileSync("npm", ["run", "build", "--workspace", "dashboard"], { cwd: ROOT, stdio: "ignore" });
  }
  mkdirSync(SHOTS, { recursive: true });
  [server, browser] = await Promise.all([
    // The alert receiver listens on loopback: allowlisted, as an operator would for an internal
    // endpoint. Keepalives often, so an idle watch stream (a run that is only running) says it is live soon.
    startTestServer({ CHIME_DASHBOARD_DIR: DIST, CHIME_BACKGROUND_INTERVAL_MS: "100", CHIME_HTTP_ALLOWLIST: "127.0.0.1", CHIME_WATCH_KEEPALIVE_MS: "500" }),
    chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking", "--disable-sync"] }),
  ]);
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  worker = new Worker({
    // The runs fail on purpose: their "run failed" warnings would only clutter the test output.
    logger: QUIET,
    natsUrl: TEST_NATS_URL,
    prefix: server.config.natsPrefix,
    queue: QUEUE,
    workerId: "debug-worker",
    handler: async (run, ctx): Promise<JsonObject> => {
      switch (run.payload.mode) {
        case "flaky":
          ctx.log.info(`reading rows, attempt ${run.attempt}`, { attempt: run.attempt });
          if (run.attempt === 1) throw new Error("flaky: the first attempt fails");
          return { rows: 42 };
        case "fail":
          throw new Error(`disk full (attempt ${run.attempt})`);
        case "slow":
          await slowGate;
          ctx.log.warn("export took long");
          return { slow: true };
        default:
          return { ok: true };
      }
    },
  });
  await worker.start();
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
  context.setDefaultTimeout(8000);
  page = await context.newPage();
  page.on("console", (message) => {
    // A refused call (404 of an unknown id) is logged by Chromium as a failed load: that is the test's doing.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
});

afterAll(async () => {
  releaseSlow();
  await worker?.stop();
  await browser?.close();
  await server?.close();
});

describe("dashboard for debugging", () => {
  const retry = { maxAttempts: 2, initialBackoff: "100ms", maxBackoff: "100ms", jitter: 0 };
  let flakyJob = "";
  let failingJob = "";
  let flakyRun = "";
  let failedRun = "";

  it("a run page: the run's own outcome, attempts with worker and errors, output", async () => {
    flakyJob = (await chime.createJob({ name: "flaky-report", queue: QUEUE, schedule: { every: "1h" }, payload: { mode: "flaky" }, retry })).id;
    failingJob = (await chime.createJob({ name: "disk-filler", namespace: "ops", queue: QUEUE, schedule: { every: "1h" }, payload: { mode: "fail" }, retry })).id;
    flakyRun = await runTo(flakyJob, RunState.SUCCEEDED);
    failedRun = await runTo(failingJob, RunState.FAILED);

    await page.goto(`${server.httpUrl}/#/runs/${flakyRun}`);
    await expect.poll(() => page.locator("h1 .badge").textContent()).toBe("succeeded");
    const outcome = page.getByTestId("run-outcome");
    expect(await outcome.textContent()).toBe("Succeeded on attempt 2 (after 1 failed).");
    // The first attempt's error is that attempt's, not the run's.
    expect(await page.getByTestId("run-error").count()).toBe(0);
    const attempts = page.locator("table.attempts-table tbody tr");
    expect(await attempts.count()).toBe(2);
    expect(await attempts.nth(0).textContent()).toContain("flaky: the first attempt fails");
    expect(await attempts.nth(0).locator(".badge").textContent()).toBe("failed");
    expect(await attempts.nth(1).locator(".badge").textContent()).toBe("succeeded");
    expect(await attempts.nth(1).textContent()).toContain("debug-worker");
    expect(JSON.parse((await page.getByTestId("run-output").textContent())!)).toEqual({ rows: 42 });
    expect(await page.locator(".crumbs").textContent()).toContain("flaky-report");
    const logs = page.getByTestId("run-logs").locator("div");
    await expect.poll(() => logs.count()).toBe(2);
    expect(await logs.nth(0).textContent()).toMatch(/INFO +\[attempt 1\] reading rows, attempt 1 \{"attempt":1\}$/);
    expect(await logs.nth(1).textContent()).toMatch(/INFO +\[attempt 2\] reading rows, attempt 2/);
    await shoot("run-succeeded");

    await page.goto(`${server.httpUrl}/#/runs/${failedRun}`);
    await expect.poll(() => page.locator("h1 .badge").textContent()).toBe("failed");
    expect(await outcome.textContent()).toContain("Failed after 2 attempts.");
    expect(await page.getByTestId("run-error").textContent()).toBe("disk full (attempt 2)");
    expect(await attempts.count()).toBe(2);
    await shoot("run-failed");
  });

  it("retries a finished run as a new manual run and opens it", async () => {
    await page.getByRole("button", { name: "Retry as a new run" }).click();
    await page.waitForURL((url) => /#\/runs\/[0-9a-f-]{36}$/.test(url.hash) && !url.hash.endsWith(failedRun));
    const retried = decodeURIComponent(page.url().split("/").pop()!);
    const row = (await server.pool.query<{ job_id: string; trigger: number }>("SELECT job_id::text, trigger FROM runs WHERE id = $1", [retried])).rows[0];
    expect(row).toEqual({ job_id: failingJob, trigger: 2 });
    // The new run is followed live until it fails too.
    await expect.poll(() => page.locator("h1 .badge").textContent(), { timeout: 30_000 }).toBe("failed");
  });

  it("follows a running run live until it ends", async () => {
    const slowJob = await chime.createJob({ name: "slow-export", queue: QUEUE, schedule: { every: "1h" }, payload: { mode: "slow" } });
    const run = await chime.triggerJob(slowJob.id);
    await page.goto(`${server.httpUrl}/#/runs/${run.id}`);
    await expect.poll(() => page.locator("h1 .badge").textContent(), { timeout: 30_000 }).toBe("running");
    await expect.poll(() => page.getByTestId("run-live").getAttribute("data-connection"), { timeout: 5000 }).toBe("live");
    expect(await page.getByTestId("run-outcome").textContent()).toMatch(/^Running attempt 1 on debug-worker/);
    expect(await page.getByRole("button", { name: "Retry as a new run" }).count()).toBe(0);
    await shoot("run-running");
    releaseSlow();
    await expect.poll(() => page.locator("h1 .badge").textContent(), { timeout: 30_000 }).toBe("succeeded");
    expect(await page.getByTestId("run-live").count()).toBe(0);
    // The log panel opened while the run ran: its follow stream brought the line in.
    await expect.poll(() => page.getByTestId("run-logs").textContent(), { timeout: 30_000 }).toContain("WARN    [attempt 1] export took long");
    slowGate = new Promise<void>((resolve) => (releaseSlow = resolve));
  });

  it("links runs from the job's history and the live feed, showing each run's own error", async () => {
    await page.goto(`${server.httpUrl}/#/jobs/${flakyJob}`);
    const historyRow = page.locator(`table.runs-table tr[data-run-id="${flakyRun}"]`);
    // Succeeded on its second attempt: no error of its own.
    await expect.poll(() => historyRow.locator(".error-cell").textContent()).toBe("—");
    await historyRow.getByRole("link").first().click();
    await page.waitForURL(new RegExp(`#/runs/${flakyRun}$`));

    await page.goto(`${server.httpUrl}/#/runs?job=${failingJob}`);
    const feedRow = page.locator(`tr[data-run-id="${failedRun}"]`);
    await expect.poll(() => feedRow.locator(".error-cell").textContent(), { timeout: 8000 }).toBe("disk full (attempt 2)");
    await feedRow.getByRole("link", { name: `Run ${failedRun}` }).click();
    await page.waitForURL(new RegExp(`#/runs/${failedRun}$`));
  });

  it("searches by run or job id from the header", async () => {
    await page.goto(`${server.httpUrl}/#/jobs`);
    const box = page.getByLabel("Run or job id");
    await box.fill(flakyRun);
    await box.press("Enter");
    await page.waitForURL(new RegExp(`#/runs/${flakyRun}$`));
    await box.fill(` ${failingJob} `);
    await box.press("Enter");
    await page.waitForURL(new RegExp(`#/jobs/${failingJob}$`));
    await box.fill("00000000-0000-4000-8000-000000000000");
    await box.press("Enter");
    await expect.poll(() => page.locator("#id-search-message").textContent()).toBe("No run or job has the id 00000000-0000-4000-8000-000000000000.");
    await box.fill("not-an-id");
    await box.press("Enter");
    await expect.poll(() => page.locator("#id-search-message").textContent()).toMatch(/"not-an-id" is not a run or job id/);
    expect(page.url()).toMatch(new RegExp(`#/jobs/${failingJob}$`));
  });

  it("a queues page: each queue's consumer now and its last hour, with a warning for a queue nobody consumes", async () => {
    const stranded = await chime.createJob({ name: "stranded-sync", namespace: "ops", queue: "orphan-q", schedule: { every: "1h" } });
    await chime.triggerJob(stranded.id);
    await chime.triggerJob(stranded.id);
    await page.goto(`${server.httpUrl}/#/queues`);
    const consumed = page.locator('tr[data-queue="debug-q"]');
    const cell = (row: typeof consumed, col: string) => row.locator(`[data-col="${col}"]`).textContent();
    // debug-q so far: the flaky and the slow run succeeded, the failing one and its retry failed.
    // The rollup counts them behind the scheduler, so the page may need a refresh or two.
    await expect.poll(() => cell(consumed, "ended"), { timeout: 15_000 }).toBe("2 / 2");
    expect(await cell(consumed, "success-rate")).toBe("50 %");
    expect(Number(await cell(consumed, "pull-requests"))).toBeGreaterThanOrEqual(1);
    expect(await cell(consumed, "waiting")).toBe("0");
    expect(await cell(consumed, "duration")).toMatch(/^\d+(\.\d+)? (ms|s) \/ \d+(\.\d+)? (ms|s)$/);
    expect(await consumed.locator(".badge").count()).toBe(0);

    const orphan = page.locator('tr[data-queue="orphan-q"]');
    await expect.poll(() => cell(orphan, "waiting")).toBe("2");
    expect(await orphan.locator(".badge").textContent()).toBe("no worker");
    const warning = page.getByTestId("unconsumed-warning");
    expect(await warning.textContent()).toContain("orphan-q: 2 waiting");
    expect(await warning.textContent()).not.toContain("debug-q");
    await shoot("queues");
  });

  it("a failures page across jobs, filtered by namespace, queue and time, each linking to its run", async () => {
    const nightly = await chime.createJob({ name: "nightly-import", queue: QUEUE, schedule: { every: "1h" }, payload: { mode: "fail" }, retry: { maxAttempts: 1 } });
    const oldFailure = await runTo(nightly.id, RunState.FAILED);
    // Once the queue's rollup has counted it (with its true start lag), as if it had been
    // scheduled two hours ago: outside "last hour", inside "last 6 hours".
    await waitFor("the rollup to count the failure", async () => (await chime.statsService.getQueueStats({ queue: QUEUE })).ended?.failed === 3n);
    await server.pool.query("UPDATE runs SET scheduled_time = scheduled_time - interval '2 hours' WHERE id = $1", [oldFailure]);

    await page.goto(`${server.httpUrl}/#/queues`);
    await page.getByRole("link", { name: "Failures on debug-q" }).click();
    await page.waitForURL(/#\/failures\?queue=debug-q$/);
    await expect.poll(() => page.getByLabel("Queue", { exact: true }).inputValue()).toBe("debug-q");
    const rows = page.locator("table.failures-table tbody tr");
    const count = page.getByTestId("failures-count");
    // disk-filler's run and its retry (namespace ops), nightly-import's (default).
    await expect.poll(() => count.textContent()).toBe("3 failed runs");
    expect(await rows.locator(".badge").allTextContents()).toEqual(["failed", "failed", "failed"]);
    expect(await page.locator(`tr[data-run-id="${oldFailure}"] .error-cell`).textContent()).toBe("disk full (attempt 1)");
    await shoot("failures");

    await page.getByLabel("Namespace", { exact: true }).selectOption("ops");
    await expect.poll(() => count.textContent()).toBe("2 failed runs");
    expect(new Set(await rows.locator("td:nth-child(2)").allTextContents())).toEqual(new Set(["disk-filler"]));
    await page.getByLabel("Namespace", { exact: true }).selectOption("");
    await page.getByLabel("Scheduled", { exact: true }).selectOption({ label: "last hour" });
    await expect.poll(() => count.textContent()).toBe("2 failed runs");
    expect(await page.locator(`tr[data-run-id="${oldFailure}"]`).count()).toBe(0);
    await page.getByLabel("Scheduled", { exact: true }).selectOption({ label: "last 6 hours" });
    await expect.poll(() => count.textContent()).toBe("3 failed runs");
    await page.getByLabel("Queue", { exact: true }).selectOption("orphan-q");
    await expect.poll(() => count.textContent()).toBe("0 failed runs");
    expect(await page.locator(".empty").textContent()).toBe("No failed runs match.");
    await page.getByLabel("Queue", { exact: true }).selectOption("");
    await page.getByRole("link", { name: `Run ${failedRun}` }).click();
    await page.waitForURL(new RegExp(`#/runs/${failedRun}$`));
  });

  it("an alerts page: channels, rules, and the delivery history with state, count, attempts and last error", async () => {
    const receiver = await startWebhookReceiver(1);
    try {
      const alertService = chime.alertService;
      const { channel: hook } = await alertService.createAlertChannel({ channel: { namespace: "ops", name: "ops-hook", kind: AlertChannelKind.WEBHOOK, url: receiver.url } });
      // A private address the destination guard refuses (only loopback is allowlisted): given up at once.
      const { channel: chat } = await alertService.createAlertChannel({ channel: { name: "team-chat", kind: AlertChannelKind.SLACK, url: "http://10.255.255.1/hook" } });
      await alertService.createAlertRule({ rule: { namespace: "ops", name: "disk-filler-failed", channelId: hook!.id, condition: AlertCondition.RUN_FAILED, jobId: failingJob, minInterval: { seconds: 1n } } });
      await alertService.createAlertRule({ rule: { name: "everything-ended", channelId: chat!.id, condition: AlertCondition.RUN_ENDED, labelSelector: "team" } });
      await alertService.createAlertRule({ rule: { name: "nobody-consumes", channelId: chat!.id, condition: AlertCondition.QUEUE_STALLED, queue: "reports", stallAfter: { seconds: 600n } } });
      const nightly = (await chime.jobService.listJobs({ namePrefix: "nightly-import" })).jobs[0];
      await chime.updateJob(nightly.id, { labels: { team: "data" } });
      const failure = await runTo(failingJob, RunState.FAILED);
      await runTo(nightly.id, RunState.FAILED);

      await page.goto(`${server.httpUrl}/#/alerts`);
      expect(await page.locator('tr[data-channel="ops-hook"]').textContent()).toContain("webhook");
      expect(await page.locator('tr[data-channel="team-chat"]').textContent()).toContain("Slack-compatible");
      expect(await page.locator('table.rules-table tr[data-rule="disk-filler-failed"]').textContent()).toContain("a run failed or timed out after its last attempt");
      expect(await page.locator('table.rules-table tr[data-rule="everything-ended"]').textContent()).toContain("team");
      const stalled = await page.locator('table.rules-table tr[data-rule="nobody-consumes"]').textContent();
      expect(stalled).toContain("queue reports");
      expect(stalled).toContain("runs waited with no worker for over 10 minutes");

      // The webhook answers 500 first: the delivery is retried (a second after) and then sent.
      const sent = page.locator('table.deliveries-table tr[data-rule="disk-filler-failed"]');
      await expect.poll(() => sent.locator(".badge").textContent(), { timeout: 15_000 }).toBe("sent");
      expect(await sent.locator('[data-col="attempts"]').textContent()).toBe("2");
      expect(await sent.locator('[data-col="events"]').textContent()).toBe("1");
      expect(await sent.locator('[data-col="last-error"]').textContent()).toBe("HTTP 500");
      expect(receiver.received).toHaveLength(1);
      const given = page.locator('table.deliveries-table tr[data-rule="everything-ended"]');
      await expect.poll(() => given.locator(".badge").textContent(), { timeout: 30_000 }).toBe("failed");
      expect(await given.locator('[data-col="attempts"]').textContent()).toBe("1");
      expect(await given.locator('[data-col="last-error"]').textContent()).toMatch(/10\.255\.255\.1|not allowed|refused/i);
      await shoot("alerts");
      await sent.getByRole("link").click();
      await page.waitForURL(new RegExp(`#/runs/${failure}$`));
    } finally {
      await receiver.close();
    }
  });

  it("the alerts page creates a channel (its secret shown once) and a rule, says which field was refused, and deletes both", async () => {
    await page.goto(`${server.httpUrl}/#/alerts`);
    const channelForm = page.locator('details[data-form="channel"]');
    await channelForm.locator("summary").click();
    await channelForm.getByLabel("Name", { exact: true }).fill("pager");
    await channelForm.getByLabel("Namespace", { exact: true }).fill("ops");
    await channelForm.getByLabel("Kind", { exact: true }).selectOption({ label: "webhook (signed JSON)" });
    await channelForm.getByLabel("URL", { exact: true }).fill("http://127.0.0.1:9/pager");
    await channelForm.getByRole("button", { name: "Create channel" }).click();
    const secret = channelForm.locator(".secret-once");
    await expect.poll(() => secret.textContent()).toMatch(/^Signing secret of pager, shown this once: \S{32,}$/);
    const created = (await chime.alertService.listAlertChannels({ namespace: "ops" })).channels.find((c) => c.name === "pager");
    expect(created).toMatchObject({ namespace: "ops", kind: AlertChannelKind.WEBHOOK, url: "http://127.0.0.1:9/pager" });
    await expect.poll(() => page.locator('tr[data-channel="pager"]').count()).toBe(1);

    const ruleForm = page.locator('details[data-form="rule"]');
    await ruleForm.locator("summary").click();
    await ruleForm.getByLabel("Name", { exact: true }).fill("pager-stalled");
    await ruleForm.getByLabel("Namespace", { exact: true }).fill("ops");
    await ruleForm.getByLabel("Channel", { exact: true }).selectOption({ label: "pager (ops)" });
    await ruleForm.getByLabel("When", { exact: true }).selectOption({ label: "runs waited with no worker" });
    // The form's own check of a duration, then the server's of the queue, each naming the field.
    await ruleForm.getByLabel("Stalled for", { exact: true }).fill("soon");
    await ruleForm.getByRole("button", { name: "Create rule" }).click();
    await expect.poll(() => ruleForm.locator(".error-summary").textContent()).toContain('Stalled for: "soon" is not a duration');
    await ruleForm.getByLabel("Stalled for", { exact: true }).fill("2m");
    await ruleForm.getByRole("button", { name: "Create rule" }).click();
    await expect.poll(() => ruleForm.locator(".error-summary").textContent()).toContain("rule.queue: expected 1-64 letters, digits, _ or - for QUEUE_STALLED");
    await ruleForm.getByLabel("Queue", { exact: true }).fill("exports");
    await ruleForm.getByRole("button", { name: "Create rule" }).click();
    const row = page.locator('table.rules-table tr[data-rule="pager-stalled"]');
    await expect.poll(() => row.textContent()).toContain("queue exports");
    expect(await row.textContent()).toContain("runs waited with no worker for over 2 minutes");
    expect(await ruleForm.locator(".error-summary").count()).toBe(0);
    const rule = (await chime.alertService.listAlertRules({ namespace: "ops" })).rules.find((r) => r.name === "pager-stalled");
    expect(rule).toMatchObject({ channelId: created!.id, condition: AlertCondition.QUEUE_STALLED, queue: "exports", stallAfter: { seconds: 120n } });
    await shoot("alerts-forms");

    await row.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("group", { name: "Delete rule pager-stalled" }).getByRole("button").first().click();
    await expect.poll(() => row.count()).toBe(0);
    const channelRow = page.locator('tr[data-channel="pager"]');
    await channelRow.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("group", { name: "Delete channel pager and its rules" }).getByRole("button").first().click();
    await expect.poll(() => channelRow.count()).toBe(0);
    expect((await chime.alertService.listAlertChannels({ namespace: "ops" })).channels.map((c) => c.name)).not.toContain("pager");
  });

  it("the jobs list shows each job's last run and cron schedules in words", async () => {
    await chime.createJob({ name: "weekday-digest", queue: QUEUE, schedule: { cron: "0 30 9 * * 1-5", timeZone: "Europe/Paris" } });
    await page.goto(`${server.httpUrl}/#/jobs`);
    const row = (name: string) => page.locator("table.jobs-table tbody tr", { hasText: name });
    await expect.poll(() => row("flaky-report").locator(".last-run .badge").textContent()).toBe("succeeded");
    expect(await row("disk-filler").locator(".last-run .badge").textContent()).toBe("failed");
    expect(await row("stranded-sync").locator(".last-run .badge").textContent()).toBe("queued");
    expect(await row("weekday-digest").textContent()).toContain("at 09:30, Monday through Friday (cron 0 30 9 * * 1-5, Europe/Paris)");
    expect(await row("weekday-digest").textContent()).toContain("none yet");
    await shoot("jobs-last-run");
    await row("disk-filler").locator(".last-run").click();
    await page.waitForURL(/#\/runs\/[0-9a-f-]{36}$/);
    expect(await page.locator("h1 .badge").textContent()).toBe("failed");
  });

  it("a job's page shows its last hour from GetJobStats", async () => {
    await page.goto(`${server.httpUrl}/#/jobs/${failingJob}`);
    const value = (id: string) => page.getByTestId(id).locator(".stat-value").textContent();
    // Its first run, the retry from the run page and the one the alert rule saw.
    await expect.poll(() => value("job-failed")).toBe("3");
    expect(await value("job-succeeded")).toBe("0");
    expect(await value("job-success-rate")).toBe("0 %");
    await page.goto(`${server.httpUrl}/#/jobs/${flakyJob}`);
    await expect.poll(() => value("job-succeeded")).toBe("1");
    expect(await value("job-success-rate")).toBe("100 %");
    expect(await value("job-duration")).toMatch(/^\d+(\.\d+)? (ms|s) \/ \d+(\.\d+)? (ms|s)$/);
    await shoot("job-stats");
  });

  it("the overview's cards come from the server's stats (the run series over the hour, the queues now)", async () => {
    await page.goto(`${server.httpUrl}/#/`);
    // Succeeded: the flaky and the slow run. Failed: disk-filler's three and nightly-import's two.
    await expect.poll(() => page.getByTestId("stat-failed").locator(".stat-value").textContent(), { timeout: 15_000 }).toBe("5");
    expect(await page.getByTestId("stat-succeeded").locator(".stat-value").textContent()).toBe("2");
    expect(await page.getByTestId("stat-success-rate").locator(".stat-value").textContent()).toBe("28.6 %");
    // stranded-sync's two runs, queued on a queue no worker consumes.
    // The queue cards come from another call than the run series: they may still be loading.
    await expect.poll(() => page.getByTestId("stat-active").locator(".stat-value").textContent(), { timeout: 15_000 }).toBe("2");
    await expect.poll(() => page.getByTestId("stat-waiting").locator(".stat-value").textContent(), { timeout: 15_000 }).toBe("2");
    await expect.poll(() => page.getByTestId("overview-unconsumed").textContent(), { timeout: 15_000 }).toContain("1 queue has runs waiting and no worker");
    await shoot("overview-stats");
  });

  it("an audit page says why it shows nothing on a server that requires no API keys", async () => {
    await page.goto(`${server.httpUrl}/#/audit`);
    await expect.poll(() => page.locator("main").textContent()).toContain("requires no API keys, so it serves no AdminService");
    expect(await page.locator("table.audit-table").count()).toBe(0);
  });

  it("fits a narrow window: nothing but the tables' own scroll areas is wider than it", async () => {
    const narrow = await page.context().newPage();
    await narrow.setViewportSize({ width: 390, height: 800 });
    for (const [name, hash] of [["run", `#/runs/${flakyRun}`], ["queues", "#/queues"], ["failures", "#/failures"], ["alerts", "#/alerts"]]) {
      await narrow.goto(`${server.httpUrl}/${hash}`);
      await narrow.locator("table tbody tr").first().waitFor();
      expect(await narrow.evaluate(() => document.documentElement.scrollWidth), name).toBeLessThanOrEqual(390);
      for (const scheme of ["light", "dark"] as const) {
        await narrow.emulateMedia({ colorScheme: scheme });
        await narrow.screenshot({ path: path.join(SHOTS, `${name}-narrow-${scheme}.png`), fullPage: true });
      }
    }
    // The overview's range picker and its charts' axis labels (a week's, the widest) fit too.
    await narrow.goto(`${server.httpUrl}/#/?range=7d`);
    await narrow.getByTestId("time-axis").first().locator("span").first().waitFor();
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth), "overview").toBeLessThanOrEqual(390);
    for (const scheme of ["light", "dark"] as const) {
      await narrow.emulateMedia({ colorScheme: scheme });
      await narrow.screenshot({ path: path.join(SHOTS, `overview-narrow-${scheme}.png`), fullPage: true });
    }
    await narrow.close();
  });

  it("logged no console errors", () => {
    expect(problems).toEqual([]);
  });
});
