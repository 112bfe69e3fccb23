import { afterAll, describe, expect, it } from "vitest";
import { createChimeClient } from "@chime/sdk";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const OUTAGE_MS = 12_000;

describe("misfire policies after downtime", () => {
  it("a 12 s outage of the only server: SKIP fires none of the missed seconds, RUN_ONCE one, RUN_ALL each", async () => {
    const db: TestDatabase = await createTestDatabase();
    cleanups.push(() => db.drop());
    const first: TestServer = await startTestServer({}, { db });
    const prefix = first.config.natsPrefix;
    cleanups.push(() => deleteNatsPrefix(prefix));
    const chime = createChimeClient({ baseUrl: first.grpcUrl });
    const policies = ["skip", "run_once", "run_all"] as const;
    const jobs = await Promise.all(
      policies.map((misfire) => chime.createJob({ name: `outage-${misfire}`, queue: "m", schedule: { cron: "* * * * * *" }, misfire })),
    );
    const runCount = async () => (await first.pool.query<{ n: number }>("SELECT count(DISTINCT job_id)::int AS n FROM runs")).rows[0].n;
    await waitFor("first runs", async () => (await runCount()) === jobs.length);
    await first.stop();
    const stoppedAt = Date.now();
    await sleep(OUTAGE_MS);
    const restartingAt = Date.now();
    const second = await startTestServer({ CHIME_NATS_PREFIX: prefix }, { db });
    cleanups.push(() => second.stop());
    const again = createChimeClient({ baseUrl: second.grpcUrl });
    await sleep(3000);
    for (const job of jobs) await again.pauseJob(job.id);

    // The new leader's first pass: the earliest transaction time of the runs it wrote. Every
    // fire time up to it came due while no scheduler ran (the runs the stopped leader wrote
    // ahead, up to the lookahead after its stop, are its own, and are not counted).
    const { rows } = await second.pool.query<{ job_id: string; scheduled_time: Date; create_time: Date }>(
      "SELECT job_id, scheduled_time, create_time FROM runs ORDER BY scheduled_time",
    );
    const firstPass = Math.min(...rows.filter((r) => r.create_time.getTime() >= restartingAt).map((r) => r.create_time.getTime()));
    const from = stoppedAt + second.config.dispatchLookaheadMs;
    // Fire times are whole seconds and the pass's own clock reading is within a few ms of its
    // transaction time (firstPass): a time within JITTER of it may have been due or not, so
    // each check below holds whichever it was.
    const JITTER = 50;
    const missedSeconds = Math.floor((firstPass - JITTER) / 1000) - Math.floor(from / 1000);
    expect(missedSeconds).toBeGreaterThanOrEqual(OUTAGE_MS / 1000 - 1);
    const [skip, once, all] = jobs.map((job) => rows.filter((r) => r.job_id === job.id).map((r) => r.scheduled_time.getTime()));
    const afterStop = (times: number[]) => times.filter((t) => t > from);
    // SKIP: its first time after the outage is a future one at the pass, none of the missed.
    expect(afterStop(skip)[0]).toBeGreaterThan(firstPass - JITTER);
    // RUN_ONCE: one run for the whole span, the latest due time (within a second before the pass).
    const onceFirst = afterStop(once)[0];
    expect(onceFirst).toBeLessThanOrEqual(firstPass + JITTER);
    expect(onceFirst).toBeGreaterThan(firstPass - 1000 - JITTER);
    // RUN_ALL: every missed second, oldest first, none left out.
    const allAfter = afterStop(all);
    expect(allAfter[0]).toBe((Math.floor(from / 1000) + 1) * 1000);
    expect(allAfter.filter((t) => t < firstPass - JITTER)).toHaveLength(missedSeconds);
    // After the catch-up each fires every second again, each second once.
    for (const runs of [skip, once, all]) {
      const seconds = runs.map((t) => t / 1000);
      expect(new Set(seconds).size).toBe(seconds.length);
      const after = seconds.filter((s) => s * 1000 > firstPass);
      expect(after.length).toBeGreaterThanOrEqual(2);
      for (let i = 1; i < after.length; i++) expect(after[i] - after[i - 1]).toBe(1);
    }
  }, 60_000);
});
