import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createChimeClient, durationFromMs, JobState, RunState, Worker, type ChimeClient, type JobSpec } from "@chime/sdk";
import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import { useTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;
const ROOT = "root-token-for-tests";

// Events are kept a day and runs three days by default; the tests age runs in SQL (the
// pruner compares with the database's now()).
const fixture = useTestServer({
  CHIME_API_TOKEN: ROOT,
  CHIME_EVENT_RETENTION_MS: String(DAY),
  CHIME_RUN_RETENTION_MS: String(3 * DAY),
  CHIME_EVENT_PRUNE_INTERVAL_MS: "200",
  CHIME_BACKGROUND_INTERVAL_MS: "100",
});
let chime: ChimeClient;
let admin: Client<typeof AdminService>;
const workers: Worker[] = [];
beforeAll(() => {
  chime = createChimeClient({ baseUrl: fixture.server.grpcUrl, token: ROOT });
  admin = createClient(AdminService, createGrpcTransport({
    baseUrl: fixture.server.grpcUrl,
    interceptors: [(next) => (request) => {
      request.header.set("authorization", `Bearer ${ROOT}`);
      return next(request);
    }],
  }));
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

const codeOf = async (call: Promise<unknown>) => ConnectError.from(await call.then(() => new Error("no error"), (e: unknown) => e)).code;
const errorOf = (call: Promise<unknown>) => call.then(() => undefined, (e: unknown) => ConnectError.from(e));
const runExists = async (id: string) => (await fixture.server.pool.query("SELECT 1 FROM runs WHERE id = $1", [id])).rowCount === 1;

/** A finished run of `jobId` that ended `agoMs` ago, inserted as the dispatcher and ingester would leave it. */
async function finishedRun(jobId: string, agoMs: number): Promise<string> {
  const id = randomUUID();
  await fixture.server.pool.query(
    `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, start_time, end_time)
     VALUES ($1, $2, 'nobody-q', now() - make_interval(secs => $3::float8 / 1000) - interval '1 minute', 1, $4,
             now() - make_interval(secs => $3::float8 / 1000) - interval '30 seconds', now() - make_interval(secs => $3::float8 / 1000))`,
    [id, jobId, agoMs, RunState.SUCCEEDED],
  );
  return id;
}

describe("run retention", () => {
  it("deletes finished runs past the retention and the one-off jobs they leave; keeps newer runs, active runs and recurring jobs", async () => {
    const worker = new Worker({ natsUrl: TEST_NATS_URL, prefix: fixture.server.config.natsPrefix, queue: "kept-q", workerId: "k", handler: async () => undefined });
    await worker.start();
    workers.push(worker);

    const once = await chime.createJob({ name: "once", queue: "kept-q", schedule: "immediate" });
    const recurring = await chime.createJob({ name: "recurring", queue: "kept-q", schedule: { every: "1h" } });
    const old = await chime.triggerJob(recurring.id);
    const stranded = await chime.createJob({ name: "stranded", queue: "nobody-q", schedule: { every: "1h" } });
    const queued = await chime.triggerJob(stranded.id);
    await waitFor("the one-off job to complete and the triggered run to succeed", async () =>
      (await chime.getJob(once.id)).state === JobState.COMPLETED && (await chime.getRun(old.id)).state === RunState.SUCCEEDED ? true : undefined,
    );
    const onceRun = (await fixture.server.pool.query<{ id: string }>("SELECT id FROM runs WHERE job_id = $1", [once.id])).rows[0].id;
    const fresh = await chime.triggerJob(recurring.id);
    await waitFor("the fresh run to succeed", async () => ((await chime.getRun(fresh.id)).state === RunState.SUCCEEDED ? true : undefined));

    // Four days old: the one-off job's run, the first triggered run, and the queued run (active: kept).
    await fixture.server.pool.query(
      `UPDATE runs SET scheduled_time = scheduled_time - interval '4 days', create_time = create_time - interval '4 days',
         start_time = start_time - interval '4 days', end_time = end_time - interval '4 days'
       WHERE id = ANY($1::uuid[])`,
      [[onceRun, old.id, queued.id]],
    );

    await waitFor("the old finished runs to be deleted", async () =>
      (await codeOf(chime.getRun(old.id))) === Code.NotFound && (await codeOf(chime.getRun(onceRun))) === Code.NotFound ? true : undefined,
    );
    // The pass that deleted them also saw the rest, and kept them.
    expect(await codeOf(chime.getJob(once.id))).toBe(Code.NotFound);
    expect((await chime.getRun(fresh.id)).state).toBe(RunState.SUCCEEDED);
    expect((await chime.getRun(queued.id)).state).toBe(RunState.QUEUED);
    expect((await chime.getJob(recurring.id)).state).toBe(JobState.ACTIVE);
    expect((await chime.getJob(stranded.id)).id).toBe(stranded.id);
  });

  it("judges each run by its job's retention, else its namespace's, else the server's", async () => {
    await admin.setNamespaceLimits({ limits: { namespace: "short", runRetention: durationFromMs(2 * DAY) } });
    await admin.setNamespaceLimits({ limits: { namespace: "long", runRetention: durationFromMs(10 * DAY) } });
    expect((await admin.getNamespaceLimits({ namespace: "long" })).limits?.runRetention?.seconds).toBe(BigInt((10 * DAY) / 1000));

    // Each job's runs: one ended 6 h before its retention is up (kept), one 6 h after (deleted).
    const cases: Array<{ label: string; namespace?: string; runRetention?: JobSpec["runRetention"]; effectiveMs: number }> = [
      { label: "server default", effectiveMs: 3 * DAY },
      { label: "job override, shorter than the server's", runRetention: "36h", effectiveMs: 1.5 * DAY },
      { label: "namespace override, shorter", namespace: "short", effectiveMs: 2 * DAY },
      { label: "job override over a namespace's, longer", namespace: "short", runRetention: "5d", effectiveMs: 5 * DAY },
      { label: "namespace override, longer than the server's", namespace: "long", effectiveMs: 10 * DAY },
      { label: "job override at the event retention, in a long namespace", namespace: "long", runRetention: "1d", effectiveMs: DAY },
    ];
    const planted: Array<(typeof cases)[number] & { kept: string; gone: string }> = [];
    for (const [i, c] of cases.entries()) {
      const job = await chime.createJob({ name: `case-${i}`, namespace: c.namespace, queue: "nobody-q", schedule: { every: "1h" }, runRetention: c.runRetention });
      planted.push({ ...c, kept: await finishedRun(job.id, c.effectiveMs - 6 * HOUR), gone: await finishedRun(job.id, c.effectiveMs + 6 * HOUR) });
    }

    await waitFor("the runs past their retention to be deleted", async () => {
      for (const c of planted) if (await runExists(c.gone)) return undefined;
      return true;
    });
    for (const c of planted) expect({ label: c.label, kept: await runExists(c.kept) }).toEqual({ label: c.label, kept: true });
  });

  it("clears a job's retention with a zero one and a namespace's by leaving it out, and stores what UpdateJob sets", async () => {
    const job = await chime.createJob({ name: "retained", queue: "nobody-q", schedule: { every: "1h" }, runRetention: "90d" });
    expect(job.runRetention?.seconds).toBe(90n * 86_400n);
    const column = async () => (await fixture.server.pool.query<{ ms: number | null }>("SELECT run_retention_ms AS ms FROM jobs WHERE id = $1", [job.id])).rows[0].ms;
    expect(await column()).toBe(90 * DAY);
    expect((await chime.updateJob(job.id, { runRetention: "2d" })).runRetention?.seconds).toBe(2n * 86_400n);
    expect(await column()).toBe(2 * DAY);
    expect((await chime.updateJob(job.id, { runRetention: 0 })).runRetention).toBeUndefined();
    expect(await column()).toBeNull();
    // SetNamespaceLimits replaces the limits as a whole: without run_retention the namespace inherits again.
    await admin.setNamespaceLimits({ limits: { namespace: "cleared", runRetention: durationFromMs(4 * DAY) } });
    await admin.setNamespaceLimits({ limits: { namespace: "cleared", maxJobs: 5n } });
    expect((await admin.getNamespaceLimits({ namespace: "cleared" })).limits?.runRetention).toBeUndefined();
  });

  it("refuses a negative retention, or one shorter than the event retention, naming the field", async () => {
    const job = await chime.createJob({ name: "valid", queue: "nobody-q", schedule: { every: "1h" } });
    const refusals: Array<[string, () => Promise<unknown>, RegExp]> = [
      ["CreateJob, negative", () => chime.createJob({ name: "neg", queue: "q", schedule: { every: "1h" }, runRetention: -1000 }), /^job\.run_retention: must not be negative$/],
      ["CreateJob, below the event retention", () => chime.createJob({ name: "short", queue: "q", schedule: { every: "1h" }, runRetention: "23h" }), /^job\.run_retention: must be at least the event retention, 86400s \(CHIME_EVENT_RETENTION_MS\)/],
      ["CreateJob, over ten years", () => chime.createJob({ name: "long", queue: "q", schedule: { every: "1h" }, runRetention: "3651d" }), /^job\.run_retention: must be at most 315360000s$/],
      ["UpdateJob, below the event retention", () => chime.updateJob(job.id, { runRetention: "1h" }), /^job\.run_retention: must be at least the event retention/],
      ["SetNamespaceLimits, negative", () => admin.setNamespaceLimits({ limits: { namespace: "bad", runRetention: durationFromMs(-1000) } }), /^limits\.run_retention: must not be negative$/],
      ["SetNamespaceLimits, below the event retention", () => admin.setNamespaceLimits({ limits: { namespace: "bad", runRetention: durationFromMs(HOUR) } }), /^limits\.run_retention: must be at least the event retention/],
    ];
    for (const [label, call, message] of refusals) {
      const error = await errorOf(call());
      expect({ label, code: error?.code }).toEqual({ label, code: Code.InvalidArgument });
      expect(error?.rawMessage).toMatch(message);
    }
    const [batch] = await chime.batchCreateJobs([{ name: "batch", queue: "q", schedule: { every: "1h" }, runRetention: "1h" }]);
    expect(batch.case).toBe("error");
    expect(batch.case === "error" && batch.value.message).toMatch(/^jobs\[0\]\.job\.run_retention: must be at least the event retention/);
    expect((await chime.getJob(job.id)).runRetention).toBeUndefined();
    expect((await admin.getNamespaceLimits({ namespace: "bad" })).limits?.runRetention).toBeUndefined();
  });
});
