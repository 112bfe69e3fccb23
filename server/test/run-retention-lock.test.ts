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
