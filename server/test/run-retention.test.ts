import { afterAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobState, RunState, Worker } from "@chime/sdk";
import { useTestServer } from "./helpers/test-server.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { waitFor } from "./helpers/wait.js";

// Runs are kept a day; the test ages some by two days (their times moved back in SQL).
const fixture = useTestServer({
  CHIME_EVENT_RETENTION_MS: "86400000",
  CHIME_RUN_RETENTION_MS: "86400000",
  CHIME_EVENT_PRUNE_INTERVAL_MS: "200",
  CHIME_BACKGROUND_INTERVAL_MS: "100",
});
const workers: Worker[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
});

const codeOf = async (call: Promise<unknown>) => ConnectError.from(await call.then(() => new Error("no error"), (e: unknown) => e)).code;

describe("run retention", () => {
  it("deletes finished runs past the retention and the one-off jobs they leave; keeps newer runs, active runs and recurring jobs", async () => {
    const chime = fixture.chime;
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

    // Two days old: the one-off job's run, the first triggered run, and the queued run (active: kept).
    await fixture.server.pool.query(
      `UPDATE runs SET scheduled_time = scheduled_time - interval '2 days', create_time = create_time - interval '2 days',
         start_time = start_time - interval '2 days', end_time = end_time - interval '2 days'
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
});
