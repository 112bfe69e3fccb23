import { Logger, makeWorkerUtils, runMigrations, type AddJobsJobSpec } from "graphile-worker";
import { PgBoss } from "pg-boss";
import { QUEUE } from "./chime.js";

/**
 * How each peer is tuned. graphile-worker (0.18): the configuration of its performance page
 * (https://worker.graphile.org/docs/performance: concurrentJobs 24, maxPoolSize 25,
 * localQueue 500, job completion batching), and a short pollInterval because future-dated
 * jobs are found by polling (the default, 2000 ms, would put ~1 s of lag on every job).
 * pg-boss (12): one work() with localConcurrency pollers (its workers doc), each fetching
 * batchSize jobs and handling a batch concurrently, burstWhenBatchFull so a full batch is
 * followed by the next fetch at once instead of a poll interval, and the poll interval at
 * its minimum (0.5 s). Bulk inserts use each peer's bulk API: WorkerUtils.addJobs and
 * boss.insert.
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
  localConcurrency: 8,
  batchSize: 1000,
  burstWhenBatchFull: true,
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
  await boss.stop({ graceful: false });
}

/** graphile-worker's logs, silenced except errors under BENCH_DEBUG. */
export function silentGraphileLogger(): Logger {
  return new Logger(() => (level, message) => {
    if (level === "error" && process.env.BENCH_DEBUG) console.error(`graphile-worker: ${message}`);
  });
}

/**
 * Inserts one-shot graphile-worker jobs i in [from, to) with WorkerUtils.addJobs (its bulk
 * API), 10,000 a call; payload {i, t} with t the due time in ms.
 */
export async function insertGraphileJobs(databaseUrl: string, from: number, to: number, runAtMs: (i: number) => number): Promise<number> {
  const utils = await makeWorkerUtils({ connectionString: databaseUrl, logger: silentGraphileLogger() });
  const started = performance.now();
  try {
    for (let start = from; start < to; start += 10_000) {
      const specs: AddJobsJobSpec[] = [];
      for (let i = start; i < Math.min(to, start + 10_000); i++) {
        const t = runAtMs(i);
        specs.push({ identifier: "bench", payload: { i, t }, runAt: new Date(t) });
      }
      await utils.addJobs(specs);
    }
  } finally {
    await utils.release();
  }
  return (performance.now() - started) / 1000;
}

/** Inserts one-shot pg-boss jobs with boss.insert (its bulk API) in chunks of 5,000, three at a time. */
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
            jobs.push({ data: { i, t }, startAfter: new Date(t) });
          }
          await boss.insert(PGBOSS_QUEUE, jobs);
        }
      }),
    );
  } finally {
    await boss.stop({ graceful: false });
  }
  return (performance.now() - started) / 1000;
}
