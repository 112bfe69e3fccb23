import { Logger, runMigrations } from "graphile-worker";
import PgBoss from "pg-boss";
import pg from "pg";
import { QUEUE } from "./chime.js";

/**
 * How each peer is tuned. graphile-worker: the configuration of its performance page
 * (https://worker.graphile.org/docs/performance: concurrentJobs 24, maxPoolSize 25,
 * localQueue 500, job completion batching), and a short pollInterval because future-dated
 * jobs are found by polling (the default, 2000 ms, would put ~1 s of lag on every job).
 * pg-boss: v10 removed teamSize; its maintainer recommends batchSize plus handling a
 * batch concurrently, and more work() calls for more pollers; the poll interval is its
 * minimum (0.5 s).
 */
export const GRAPHILE_SETTINGS = {
  concurrentJobs: 24,
  maxPoolSize: 25,
  localQueue: { size: 500 },
  completeJobBatchDelay: 0,
  failJobBatchDelay: 0,
  pollInterval: 100,
  preparedStatements: true,
};

export const PGBOSS_SETTINGS = {
  workers: 8,
  batchSize: 1000,
  pollingIntervalSeconds: 0.5,
  max: 20,
  /** Its cron scheduler is not used; maintenance (supervise) stays on as by default. */
  schedule: false,
};

export const PGBOSS_QUEUE = QUEUE;

/** Installs graphile-worker's schema in a fresh database. */
export async function prepareGraphile(databaseUrl: string): Promise<void> {
  await runMigrations({ connectionString: databaseUrl, logger: silentGraphileLogger() });
}

/** Installs pg-boss's schema and creates the benchmark queue. */
export async function preparePgBoss(databaseUrl: string): Promise<void> {
  const boss = new PgBoss({ connectionString: databaseUrl, max: 2, supervise: false, schedule: false });
  boss.on("error", () => undefined);
  await boss.start();
  await boss.createQueue(PGBOSS_QUEUE);
  await boss.stop({ graceful: false, wait: true });
}

/** graphile-worker's logs, silenced except errors under BENCH_DEBUG. */
export function silentGraphileLogger(): Logger {
  return new Logger(() => (level, message) => {
    if (level === "error" && process.env.BENCH_DEBUG) console.error(`graphile-worker: ${message}`);
  });
}

/**
 * Inserts one-shot graphile-worker jobs with graphile_worker.add_jobs (its bulk API), one
 * statement per 50k rows; `runAtSql` and `tSql` are SQL over `g` (the job index).
 */
export async function insertGraphileJobs(databaseUrl: string, from: number, to: number, runAtSql: string, params: unknown[] = []): Promise<number> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  const started = performance.now();
  try {
    for (let start = from; start < to; start += 50_000) {
      const end = Math.min(to, start + 50_000);
      await db.query(
        `SELECT count(*) FROM graphile_worker.add_jobs(ARRAY(
           SELECT ROW('bench', json_build_object('i', g, 't', (extract(epoch FROM (${runAtSql})) * 1000)::float8),
                      NULL, ${runAtSql}, NULL, NULL, NULL, NULL)::graphile_worker.job_spec
           FROM generate_series($1::int, $2::int) AS g))`,
        [start, end - 1, ...params],
      );
    }
  } finally {
    await db.end();
  }
  return (performance.now() - started) / 1000;
}

/** Inserts one-shot pg-boss jobs with boss.insert (its bulk API) in chunks of 5,000. */
export async function insertPgBossJobs(databaseUrl: string, from: number, to: number, runAtMs: (i: number) => number): Promise<number> {
  const boss = new PgBoss({ connectionString: databaseUrl, max: 4, supervise: false, schedule: false, migrate: false });
  boss.on("error", () => undefined);
  await boss.start();
  const started = performance.now();
  try {
    const chunks: Array<[number, number]> = [];
    for (let start = from; start < to; start += 5000) chunks.push([start, Math.min(to, start + 5000)]);
    let next = 0;
    await Promise.all(
      Array.from({ length: 3 }, async () => {
        while (next < chunks.length) {
          const [start, end] = chunks[next++];
          const jobs = [];
          for (let i = start; i < end; i++) {
            const t = runAtMs(i);
            jobs.push({ name: PGBOSS_QUEUE, data: { i, t }, startAfter: new Date(t) });
          }
          await boss.insert(jobs);
        }
      }),
    );
  } finally {
    await boss.stop({ graceful: false, wait: true });
  }
  return (performance.now() - started) / 1000;
}
