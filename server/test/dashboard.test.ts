import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChimeClient, RunState } from "@chime/sdk";
import { databaseMinute, writePastEnds, type PastEnd } from "./helpers/rollup-history.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";
import { startTcpProxy } from "./helpers/tcp-proxy.js";

/**
 * The dashboard end to end: headless Chromium against a real server (Postgres, NATS,
 * scheduler, WatchService) serving the built page at `/`. Screenshots of every page,
 * light and dark, go to test-output/screenshots/.
 */

// What the page.evaluate callbacks touch in the browser (this project compiles without the DOM library).
declare const document: { activeElement: { id: string; textContent: string | null } | null; documentElement: { scrollWidth: number } };
declare const sessionStorage: { getItem(key: string): string | null };

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const DIST = path.join(ROOT, "dashboard/dist");
const SHOTS = path.join(ROOT, "test-output/screenshots");
const CHROMIUM = process.env.CHIME_TEST_CHROMIUM ?? "/usr/bin/chromium";
const MIN = 60_000;

let server: TestServer;
let browser: Browser;
let context: BrowserContext;
let page: Page;
/** Console errors and uncaught exceptions of every page; the last test expects none. */
const problems: string[] = [];

async function newPage(ctx: BrowserContext): Promise<Page> {
  const p = await ctx.newPage();
  p.on("console", (message) => {
    // A refused call (400 for invalid_argument, 401) is logged by Chromium as a failed load: that is the test's doing.
    if (message.type() === "error" && !message.text().startsWith("Failed to load resource")) problems.push(`console: ${message.text()}`);
  });
  p.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  return p;
}

async function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

async function shoot(name: string): Promise<void> {
  for (const scheme of ["light", "dark"] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    await page.screenshot({ path: path.join(SHOTS, `${name}-${scheme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: "light" });
}

const runsOf = async (jobId: string, where = "true", params: unknown[] = []) =>
  Number(
    (await server.pool.query<{ n: string }>(`SELECT count(*) AS n FROM runs WHERE job_id = $1 AND ${where}`, [jobId, ...params])).rows[0].n,
  );

beforeAll(async () => {
  if (!existsSync(path.join(DIST, "index.html"))) {
    // `npm test` builds it; this covers `npm run test:only` on a fresh checkout.
    execFileSync("npm", ["run", "build", "--workspace", "dashboard"], { cwd: ROOT, stdio: "ignore" });
  }
  mkdirSync(SHOTS, { recursive: true });
  [server, browser] = await Promise.all([startTestServer({ CHIME_DASHBOARD_DIR: DIST }), launch()]);
  context = await browser.newContext({ viewport: { width: 1280, height: 860 }, colorScheme: "light" });
  context.setDefaultTimeout(8000);
  page = await newPage(context);
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

describe("dashboard", () => {
  let jobId = "";

  it("serves the page at / with its assets, and 404 outside them", async () => {
    const index = await fetch(`${server.httpUrl}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/text\/html/);
    const html = await index.text();
    const asset = /src="\.\/(assets\/[^"]+\.js)"/.exec(html)?.[1];
    expect(asset).toBeTruthy();
    const js = await fetch(`${server.httpUrl}/${asset}`);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toMatch(/immutable/);
    expect((await fetch(`${server.httpUrl}/assets/..%2f..%2fpackage.json`)).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/nope`)).status).toBe(404);
    expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  });

  it("shows a bad cron expression's error next to the field, then creates the cron job", async () => {
    await page.goto(`${server.httpUrl}/#/jobs/new`);
    await page.getByLabel("Name", { exact: true }).fill("e2e-every-second");
    await page.getByLabel("Queue").fill("e2e");
    await page.getByLabel("Labels").fill("suite=dashboard");
    const cron = page.getByLabel("Cron expression");
    // Six fields, so the form's own check passes: the server's cron parser refuses day 99.
    await cron.fill("* * * 99 * *");
    const cronError = page.locator('[data-field="schedule.cron.expression"] .error-note');
    await expect.poll(() => cronError.textContent(), { timeout: 5000 }).toMatch(/invalid cron/);
    await page.getByRole("button", { name: "Create job" }).click();
    // CreateJob's INVALID_ARGUMENT ("job.schedule.cron.expression: ...") lands next to the field, which gets focus.
    await expect.poll(() => page.evaluate(() => document.activeElement?.id)).toBe("field-schedule-cron-expression");
    expect(await cron.getAttribute("aria-invalid")).toBe("true");
    expect(await cronError.textContent()).toMatch(/invalid cron "\* \* \* 99 \* \*"/);
    expect(await page.locator(".error-summary").textContent()).toMatch(/schedule\.cron\.expression/);
    expect(Number((await server.pool.query("SELECT count(*) AS n FROM jobs")).rows[0].n)).toBe(0);
    await shoot("job-form-error");

    await cron.fill("* * * * * *");
    await expect.poll(() => page.locator('[data-testid="schedule-preview"] li').count(), { timeout: 5000 }).toBe(5);
    await page.getByLabel("Payload (JSON object)").fill('{"report": ');
    await expect.poll(() => page.locator('[data-field="payload"] .error-note').textContent()).toMatch(/not valid JSON/);
    await page.getByLabel("Payload (JSON object)").fill('{"report": "daily"}');
    await shoot("job-form");
    await page.getByRole("button", { name: "Create job" }).click();
    await page.waitForURL(/#\/jobs\/[0-9a-f-]{36}$/, { timeout: 5000 });
    jobId = decodeURIComponent(page.url().split("/").pop()!);
    const row = (await server.pool.query<{ name: string; spec: { payload?: unknown } }>("SELECT name, spec FROM jobs WHERE id = $1", [jobId])).rows[0];
    expect(row.name).toBe("e2e-every-second");
    expect(row.spec.payload).toEqual({ report: "daily" });
    expect(await page.getByTestId("schedule-words").textContent()).toBe("every second (cron * * * * * *, UTC)");
    await expect.poll(() => page.getByTestId("fire-times").locator("li").count()).toBe(10);
  });

  it("shows the job's runs in the live feed within seconds, and says when it reconnects", async () => {
    // Through a TCP proxy, so the test can cut the page's connections to the server and bring them back.
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: server.httpPort });
    await page.goto(`http://127.0.0.1:${proxy.port}/#/runs?job=${jobId}`);
    const rows = page.locator(`tr[data-job-id="${jobId}"]`);
    await expect.poll(() => rows.count(), { timeout: 6000, interval: 200 }).toBeGreaterThanOrEqual(2);
    const status = page.getByTestId("feed-status");
    // The first rows may come from the backfill (ListRuns) before the stream is confirmed.
    await expect.poll(() => status.getAttribute("data-connection"), { timeout: 5000, interval: 100 }).toBe("live");
    expect(await status.getAttribute("data-mode")).toBe("watch");
    // New runs keep arriving while the page stays open.
    const seen = await rows.count();
    await expect.poll(() => rows.count(), { timeout: 4000, interval: 200 }).toBeGreaterThan(seen);
    await shoot("live-runs");

    // Cut the stream: the feed says it is reconnecting, then picks up again on its own.
    await proxy.close();
    await expect.poll(() => status.getAttribute("data-connection"), { timeout: 5000, interval: 100 }).toBe("reconnecting");
    expect(await status.textContent()).toContain("Reconnecting");
    await proxy.open();
    await expect.poll(() => status.getAttribute("data-connection"), { timeout: 10_000, interval: 100 }).toBe("live");
    const after = await rows.count();
    await expect.poll(() => rows.count(), { timeout: 4000, interval: 200 }).toBeGreaterThan(after);
    await proxy.close();
  });

  it("pauses the job and firing stops; resumes it", async () => {
    await page.goto(`${server.httpUrl}/#/jobs/${jobId}`);
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator("h1 .badge").textContent()).toBe("paused");
    expect((await server.pool.query("SELECT state FROM jobs WHERE id = $1", [jobId])).rows[0].state).toBe(2);
    // A fire already claimed when the pause landed may still commit: let it, then count.
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = await runsOf(jobId, "trigger = 1");
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(await runsOf(jobId, "trigger = 1")).toBe(before);
    await page.getByRole("button", { name: "Resume" }).click();
    await expect.poll(() => page.locator("h1 .badge").textContent()).toBe("active");
    await page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => page.locator("h1 .badge").textContent()).toBe("paused");
  });

  it("triggers a run now and cancels it", async () => {
    const manualBefore = await runsOf(jobId, "trigger = 2");
    await page.getByRole("button", { name: "Trigger now" }).click();
    await waitFor("the manual run", async () => (await runsOf(jobId, "trigger = 2")) === manualBefore + 1, { timeoutMs: 5000 });
    const manualRow = page.locator("table.runs-table tbody tr", { hasText: "manual" }).first();
    await expect.poll(() => manualRow.count(), { timeout: 5000 }).toBe(1);
    expect(await manualRow.locator(".badge").textContent()).toBe("queued");
    await shoot("job-detail");

    const runId = await manualRow.getAttribute("data-run-id");
    await manualRow.getByRole("button", { name: /^Cancel the run/ }).click();
    await expect.poll(() => page.locator(`tr[data-run-id="${runId}"] .badge`).textContent(), { timeout: 5000 }).toBe("cancelled");
    expect((await server.pool.query("SELECT state FROM runs WHERE id = $1", [runId])).rows[0].state).toBe(6);
  });

  it("lists, filters and acts on jobs in bulk", async () => {
    const client = createChimeClient({ baseUrl: server.grpcUrl });
    await client.createJob({ name: "e2e-hourly", queue: "reports", schedule: { every: "1h" }, labels: { suite: "dashboard", team: "billing" } });
    await client.createJob({ name: "other-once", queue: "reports", schedule: { at: new Date(Date.now() + 86_400_000) } });
    await page.goto(`${server.httpUrl}/#/jobs`);
    const names = () => page.locator("table.jobs-table tbody tr td:nth-child(2) a").allTextContents();
    await expect.poll(names).toEqual(expect.arrayContaining(["e2e-every-second", "e2e-hourly", "other-once"]));
    expect(await page.locator("tr", { hasText: "e2e-hourly" }).textContent()).toContain("every 1 hour");
    expect(await page.locator("tr", { hasText: "other-once" }).textContent()).toMatch(/at \d{4}-\d\d-\d\d/);
    await shoot("jobs");

    await page.getByLabel("Labels").fill("=oops");
    await expect.poll(() => page.locator("#f-labels-error").textContent()).toMatch(/label_selector|not key=value/);
    await page.getByLabel("Labels").fill("suite=dashboard");
    await expect.poll(async () => (await names()).sort()).toEqual(["e2e-every-second", "e2e-hourly"]);
    await page.getByLabel("Name starts with").fill("e2e-h");
    await expect.poll(names).toEqual(["e2e-hourly"]);
    await page.getByRole("button", { name: "Clear filters" }).click();
    await expect.poll(async () => (await names()).length).toBe(3);

    await page.getByLabel("Select all jobs shown").check();
    await page.getByRole("button", { name: "Pause", exact: true }).click();
    await waitFor("all jobs paused", async () => Number((await server.pool.query("SELECT count(*) AS n FROM jobs WHERE state <> 2 AND deleted_time IS NULL")).rows[0].n) === 0, { timeoutMs: 5000 });
    await page.getByRole("button", { name: "Resume", exact: true }).click();
    await waitFor("all jobs resumed", async () => Number((await server.pool.query("SELECT count(*) AS n FROM jobs WHERE state <> 1 AND deleted_time IS NULL")).rows[0].n) === 0, { timeoutMs: 5000 });
    await page.getByLabel("Select all jobs shown").uncheck();
    await page.getByLabel("Select other-once").check();
    await page.getByRole("button", { name: "Delete", exact: true }).click();
    await page.getByRole("button", { name: "Delete 1" }).click();
    await expect.poll(async () => (await names()).includes("other-once")).toBe(false);
    await page.getByLabel("Select e2e-every-second").check();
    await page.getByRole("button", { name: "Pause", exact: true }).click();
  });

  it("edits a job: the form loads it and sends only what changed", async () => {
    await page.goto(`${server.httpUrl}/#/jobs/${jobId}/edit`);
    const cron = page.getByLabel("Cron expression");
    await expect.poll(() => cron.inputValue()).toBe("* * * * * *");
    await cron.fill("*/5 * * * * *");
    await page.getByLabel("Time zone").fill("Europe/Paris");
    await page.getByLabel("Time skipped by DST").selectOption({ label: "skip that day" });
    await page.getByRole("button", { name: "Save changes" }).click();
    await page.waitForURL(new RegExp(`#/jobs/${jobId}$`));
    await expect
      .poll(() => page.getByTestId("schedule-words").textContent())
      .toBe("every 5 seconds (cron */5 * * * * *, Europe/Paris), skipped in a DST gap");
    const { spec, labels } = (await server.pool.query("SELECT spec, labels FROM jobs WHERE id = $1", [jobId])).rows[0];
    expect(spec.payload).toEqual({ report: "daily" });
    expect(spec.schedule.cron).toMatchObject({ dstGap: "DST_GAP_POLICY_SKIP", dstRepeat: "DST_REPEAT_POLICY_FIRST" });
    expect(labels).toEqual({ suite: "dashboard" });
  });

  it("shows the overview from the server's run series: a namespace's known counts, a range picker kept in the URL, time axes", async () => {
    const minute = await databaseMinute(server.pool);
    const ago = (minutes: number, seconds = 0) => new Date(minute - minutes * MIN + seconds * 1000);
    const ends: PastEnd[] = [];
    // An hour of history in "default" (the README's picture): a few dozen runs a minute, some failing, slower at times.
    for (let m = 1; m <= 58; m++) {
      const n = 24 + Math.round(12 * Math.sin(m / 6)) + ((m * 7) % 9);
      for (let k = 0; k < n; k++) {
        const state = k % (11 + (m % 7)) === 3 || (m > 40 && m < 44 && k % 4 === 0) ? RunState.FAILED : RunState.SUCCEEDED;
        const durationMs = 20 + ((k * 37 + m * 11) % (100 + 25 * m));
        ends.push({ queue: "reports", state, end: ago(m, k), durationMs, lagMs: 2 + ((k * 13) % (m % 9 === 0 ? 400 : 15 + m)) });
      }
    }
    // Namespace overview-ns: 4 successes 2 minutes ago; 3 successes, a failure and a timeout 3 hours ago.
    for (let k = 0; k < 4; k++) ends.push({ queue: "ov-q", namespace: "overview-ns", state: RunState.SUCCEEDED, end: ago(2, k), durationMs: 40, lagMs: 4 });
    for (let k = 0; k < 3; k++) ends.push({ queue: "ov-q", namespace: "overview-ns", state: RunState.SUCCEEDED, end: ago(180, k), durationMs: 40, lagMs: 4 });
    ends.push({ queue: "ov-q", namespace: "overview-ns", state: RunState.FAILED, end: ago(180, 5), durationMs: 900, lagMs: 4 });
    ends.push({ queue: "ov-q", namespace: "overview-ns", state: RunState.TIMED_OUT, end: ago(180, 6), durationMs: 5000, lagMs: 4 });
    await writePastEnds(server.pool, ends);

    const value = (id: string) => page.getByTestId(id).locator(".stat-value").textContent();
    const axis = () => page.getByTestId("time-axis").first().locator("span").allTextContents();
    await page.goto(`${server.httpUrl}/#/?namespace=overview-ns`);
    await expect.poll(() => value("stat-succeeded"), { timeout: 5000 }).toBe("4");
    expect(await value("stat-failed")).toBe("0");
    expect(await value("stat-success-rate")).toBe("100 %");
    expect(await value("stat-lag-p50")).toBe("5 ms");
    expect(await page.getByRole("radio", { name: "the last 1 h" }).isChecked()).toBe(true);
    expect(await page.getByTestId("server-stats").getAttribute("data-bucket-ms")).toBe(String(MIN));
    // An hour in 1-minute bars, labelled every 10 minutes of local time.
    expect(await page.locator(".chart").first().locator("svg rect").count()).toBeGreaterThan(0);
    const hourTicks = await axis();
    expect(hourTicks.length).toBeGreaterThanOrEqual(5);
    for (const label of hourTicks) expect(label).toMatch(/^\d\d:\d0$/);

    // Six hours: the failure and the timeout 3 hours ago come into the window, in 10-minute bars with hourly labels.
    await page.getByRole("radio", { name: "the last 6 h" }).check();
    await page.waitForURL(/#\/\?range=6h&namespace=overview-ns$/);
    await expect.poll(() => value("stat-succeeded")).toBe("7");
    expect(await value("stat-failed")).toBe("2");
    expect(await value("stat-success-rate")).toBe("77.8 %");
    await expect.poll(() => page.getByTestId("server-stats").getAttribute("data-bucket-ms")).toBe(String(10 * MIN));
    await expect.poll(async () => (await axis()).every((label) => /^\d\d:00$/.test(label))).toBe(true);
    expect((await axis()).length).toBeGreaterThanOrEqual(5);

    // A reload keeps the range and the namespace.
    await page.reload();
    await expect.poll(() => value("stat-succeeded"), { timeout: 5000 }).toBe("7");
    expect(await page.getByRole("radio", { name: "the last 6 h" }).isChecked()).toBe(true);
    expect(await page.getByLabel("Namespace", { exact: true }).inputValue()).toBe("overview-ns");

    // Every namespace over the hour: the history above and the runs the earlier tests ended.
    await page.getByLabel("Namespace", { exact: true }).fill("");
    await page.waitForURL(/#\/\?range=6h$/);
    await page.getByRole("radio", { name: "the last 1 h" }).check();
    await page.waitForURL(/#\/$/);
    const laidOut = ends.filter((e) => e.namespace === undefined && e.state === RunState.SUCCEEDED).length + 4;
    await expect.poll(async () => Number(await value("stat-succeeded"))).toBeGreaterThanOrEqual(laidOut);
    await expect.poll(() => page.getByTestId("leader-id").textContent(), { timeout: 5000 }).toContain(server.config.serverId);
    await shoot("overview");
  });

  it("works in a narrow window and from the keyboard", async () => {
    const narrow = await newPage(context);
    await narrow.setViewportSize({ width: 390, height: 800 });
    await narrow.goto(`${server.httpUrl}/#/jobs`);
    await expect.poll(() => narrow.locator("table.jobs-table tbody tr").count()).toBeGreaterThan(0);
    // Nothing but the tables' own scroll areas is wider than the window.
    expect(await narrow.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    for (const scheme of ["light", "dark"] as const) {
      await narrow.emulateMedia({ colorScheme: scheme });
      await narrow.screenshot({ path: path.join(SHOTS, `jobs-narrow-${scheme}.png`), fullPage: true });
    }
    // The skip link comes first in the tab order (Shift+Tab from the brand link reaches it);
    // then Tab through the navigation to "Live runs", and open it with Enter. (Where Chromium
    // starts tabbing from an unfocused page depends on its version, so the walk starts at a link.)
    await narrow.locator("a.brand").focus();
    await narrow.keyboard.press("Shift+Tab");
    expect(await narrow.evaluate(() => document.activeElement?.textContent)).toBe("Skip to content");
    for (let i = 0; i < 10; i++) {
      await narrow.keyboard.press("Tab");
      if ((await narrow.evaluate(() => document.activeElement?.textContent)) === "Live runs") break;
    }
    await narrow.keyboard.press("Enter");
    await narrow.waitForURL(/#\/runs$/);
    await narrow.close();
  });

  it("polls ListRuns every second behind the same feed where a server lacks WatchRuns", async () => {
    const polling = await newPage(context);
    // connect-web reads a 404 as UNIMPLEMENTED, as from a server without WatchService.
    await polling.route("**/chime.v1.WatchService/WatchRuns", (route) => route.fulfill({ status: 404, body: "" }));
    await polling.goto(`${server.httpUrl}/#/runs?job=${jobId}`);
    const status = polling.getByTestId("feed-status");
    await expect.poll(() => status.getAttribute("data-mode"), { timeout: 5000 }).toBe("poll");
    await expect.poll(() => status.getAttribute("data-connection"), { timeout: 5000 }).toBe("live");
    expect(await status.textContent()).toContain("polling");
    const rows = polling.locator(`tr[data-job-id="${jobId}"]`);
    await expect.poll(() => rows.count(), { timeout: 5000 }).toBeGreaterThan(0);
    const before = await rows.count();
    await createChimeClient({ baseUrl: server.grpcUrl }).triggerJob(jobId);
    await expect.poll(() => rows.count(), { timeout: 4000, interval: 200 }).toBe(before + 1);
    await polling.close();
  });

  it("logged no console errors", () => {
    expect(problems).toEqual([]);
  });
});

describe("dashboard with an API token", () => {
  let secured: TestServer;
  beforeAll(async () => {
    secured = await startTestServer({ CHIME_DASHBOARD_DIR: DIST, CHIME_API_TOKEN: "e2e-secret-token", CHIME_ROLES: "api" });
  });
  afterAll(async () => secured?.close());

  it("refuses RPCs without the token on both stacks", async () => {
    const refused = await fetch(`${secured.httpUrl}/chime.v1.JobService/ListJobs`, { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
    expect(refused.status).toBe(401);
    expect(((await refused.json()) as { code: string }).code).toBe("unauthenticated");
    const anonymous = createChimeClient({ baseUrl: secured.grpcUrl });
    const error = await anonymous.jobService.getSchedulerStatus({}).catch((e: unknown) => e);
    expect(ConnectError.from(error).code).toBe(Code.Unauthenticated);
    const wrong = createChimeClient({ baseUrl: secured.grpcUrl, token: "not-the-token" });
    expect(ConnectError.from(await wrong.jobService.getSchedulerStatus({}).catch((e: unknown) => e)).code).toBe(Code.Unauthenticated);
    const authorised = createChimeClient({ baseUrl: secured.grpcUrl, token: "e2e-secret-token" });
    await authorised.createJob({ name: "secured-job", queue: "e2e", schedule: { every: "1h" } });
    expect((await fetch(`${secured.httpUrl}/healthz`)).status).toBe(200);
  });

  it("asks for the token, keeps it in sessionStorage (not the URL), and then works", async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await newPage(ctx);
    await p.goto(`${secured.httpUrl}/#/jobs`);
    const dialog = p.getByRole("dialog", { name: "API token" });
    await expect.poll(() => dialog.isVisible(), { timeout: 5000 }).toBe(true);
    await p.getByLabel("Token", { exact: true }).fill("e2e-secret-token");
    await p.keyboard.press("Enter");
    await expect.poll(() => p.locator("table.jobs-table tbody tr", { hasText: "secured-job" }).count(), { timeout: 5000 }).toBe(1);
    expect(await p.evaluate(() => sessionStorage.getItem("chime.apiToken"))).toBe("e2e-secret-token");
    expect(p.url()).not.toContain("e2e-secret-token");
    await ctx.close();
  });
  it("an audit page: every change made through the API, newest first, filtered by namespace, linking to its job", async () => {
    const authorised = createChimeClient({ baseUrl: secured.grpcUrl, token: "e2e-secret-token" });
    const audited = await authorised.createJob({ namespace: "audited", name: "audited-job", queue: "e2e", schedule: { every: "1h" } });
    await authorised.updateJob(audited.id, { labels: { reviewed: "yes" } });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 } });
    const p = await newPage(ctx);
    await p.goto(`${secured.httpUrl}/#/audit`);
    await p.getByLabel("Token", { exact: true }).fill("e2e-secret-token");
    await p.keyboard.press("Enter");
    const rows = p.locator("table.audit-table tbody tr");
    // Newest first: the update, then the create; the other tests' changes below.
    await expect.poll(() => rows.first().getAttribute("data-action"), { timeout: 5000 }).toBe("UpdateJob");
    expect(await rows.nth(1).getAttribute("data-action")).toBe("CreateJob");
    expect(await rows.count()).toBeGreaterThan(2);
    const newest = await rows.first().textContent();
    expect(newest).toContain(`job/${audited.id}`);
    expect(newest).toContain("audited");
    expect(newest).toContain("127.0.0.1");
    await p.getByLabel("Namespace").fill("audited");
    await expect.poll(() => rows.count()).toBe(2);
    expect(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute("data-action")))).toEqual(["UpdateJob", "CreateJob"]);
    for (const scheme of ["light", "dark"] as const) {
      await p.emulateMedia({ colorScheme: scheme });
      await p.screenshot({ path: path.join(SHOTS, `audit-${scheme}.png`), fullPage: true });
    }
    await rows.first().getByRole("link").click();
    await p.waitForURL(new RegExp(`#/jobs/${audited.id}$`));
    await ctx.close();
  });
});
