import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type pg from "pg";
import { createPool } from "../src/db/pool.js";
import { createRunPruner } from "../src/runs/run-retention.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";

// runs.job_id has no foreign key (migration 0021): run retention itself must never delete
// a job that a concurrent writer, holding the job's row lock, has just given a run.
let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

async function completedJobWithOldRun(): Promise<string> {
  const jobId = randomUUID();
  await pool.query(
    `INSERT INTO jobs (id, namespace, name, queue, spec, state) VALUES ($1, 'default', $2, 'q', '{}', 3)`,
    [jobId, `job-${jobId}`],
  );
  await pool.query(
    `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, end_time)
     VALUES ($1, $2, 'q', now() - interval '3 days', 1, 4, now() - interval '3 days')`,
    [randomUUID(), jobId],
  );
  return jobId;
}

const jobExists = async (id: string) => (await pool.query("SELECT 1 FROM jobs WHERE id = $1", [id])).rowCount === 1;

describe("run retention and the job row lock", () => {
  it("keeps a job whose row a writer holds while it inserts a run, and deletes it once it has no run", async () => {
    const pruner = createRunPruner({ pool, defaultRetentionMs: 86_400_000 });
    const contested = await completedJobWithOldRun();
    const alone = await completedJobWithOldRun();

    // A TriggerJob-like writer: the job's row lock, then a new run, not yet committed.
    const writer = await pool.connect();
    const newRun = randomUUID();
    try {
      await writer.query("BEGIN");
      await writer.query("SELECT id FROM jobs WHERE id = $1 FOR UPDATE", [contested]);
      await writer.query(
        `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state) VALUES ($1, $2, 'q', now(), 2, 1)`,
        [newRun, contested],
      );
      const first = await pruner.pass();
      expect(first).toEqual({ runs: 2, jobs: 1 });
      await writer.query("COMMIT");
    } finally {
      writer.release();
    }
    expect(await jobExists(alone)).toBe(false);
    expect(await jobExists(contested)).toBe(true);

    // Its old run is gone and its new one is not finished: a later pass keeps it too.
    expect(await pruner.pass()).toEqual({ runs: 0, jobs: 0 });
    expect(await jobExists(contested)).toBe(true);
    const { rows } = await pool.query("SELECT r.id FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = $1", [newRun]);
    expect(rows).toHaveLength(1);
  });
});

describe("run retention's sweep", () => {
  it("walks the range below the smallest retention batch by batch, across passes, not stopping at the runs it keeps", async () => {
    // A job that keeps its runs 30 days, in a server that keeps runs a day: its five old runs
    // are in the scanned range (older than a day) but kept, and older than the three to delete.
    const keeper = randomUUID();
    await pool.query(
      `INSERT INTO jobs (id, namespace, name, queue, spec, state) VALUES ($1, 'default', $2, 'q', '{"runRetention": "2592000s"}', 1)`,
      [keeper, `keeper-${keeper}`],
    );
    const ended = async (jobId: string, daysAgo: number) =>
      pool.query(
        `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, end_time)
         VALUES ($1, $2, 'q', now() - make_interval(days => $3), 1, 4, now() - make_interval(days => $3))`,
        [randomUUID(), jobId, daysAgo],
      );
    for (let day = 20; day > 15; day--) await ended(keeper, day);
    const plain = randomUUID();
    await pool.query(`INSERT INTO jobs (id, namespace, name, queue, spec, state) VALUES ($1, 'default', $2, 'q', '{}', 1)`, [plain, `plain-${plain}`]);
    for (let day = 5; day > 2; day--) await ended(plain, day);

    // Two runs a statement, one statement a pass: the sweep goes on where the last pass stopped.
    const pruner = createRunPruner({ pool, defaultRetentionMs: 86_400_000, batchSize: 2, batchesPerPass: 1 });
    const deleted = [];
    for (let pass = 0; pass < 5; pass++) deleted.push((await pruner.pass()).runs);
    expect(deleted).toEqual([0, 0, 1, 2, 0]);
    const left = await pool.query<{ job_id: string }>("SELECT job_id FROM runs WHERE job_id = ANY($1::uuid[])", [[keeper, plain]]);
    expect(left.rows.map((r) => r.job_id)).toEqual(Array(5).fill(keeper));
  });
});
