import pg from "pg";
import type { BenchContext } from "../config.js";
import { lagFigures, openOneShotSession, runOneShot, type OneShotOutcome, type OneShotSession } from "../oneshot.js";
import { admin } from "../pg.js";
import { log, nowMs, sleep } from "../util.js";

/** Server settings of this workload: runs are kept (0) until the backlog's jobs get a retention; the pruner then works back to back. */
const PRUNE_ENV = { CHIME_RUN_RETENTION_MS: "0", CHIME_EVENT_PRUNE_INTERVAL_MS: "1000" };
/** The retention the backlog's jobs get (at least the default event retention, 7 days); the backlog ended 40 days ago. */
const BACKLOG_RETENTION = "691200s";
/** Recurring jobs holding most of the backlog; a tenth of the runs are one-off jobs' (deleted with their run). */
const RECURRING_JOBS = 100;

/**
 * Workload 8 (Chime only): does run retention disturb dispatch? N finished runs that ended
 * 40 days ago are inserted by SQL (a tenth as completed one-off jobs with their run, the rest
 * spread over 100 recurring jobs), kept at first: the server keeps runs (CHIME_RUN_RETENTION_MS=0)
 * and no job sets a retention, so the pruner has nothing in force and does not scan. Then the
 * steady load runs twice on the same database: once so (no prune), once with the backlog's
 * jobs given an 8-day run_retention at T0 (one UPDATE of their definitions, as UpdateJob
 * would write it), so the pruner deletes the backlog while the runs are due. Reported: start
 * lag p50/p99 of each window, and the prune's duration and rate (from T0 until no backlog run
 * is left, polled once a second).
 */
export async function prune(ctx: BenchContext): Promise<void> {
  if (!ctx.systems.includes("chime")) return;
  const { pruneRuns, pruneRate, steadySeconds } = ctx.sizes;
  let session: OneShotSession | undefined;
  try {
    session = await openOneShotSession(ctx, "chime", "prune", PRUNE_ENV);
    const url = session.db.url;
    const insertSeconds = await insertBacklog(url, pruneRuns);
    log(`prune: ${pruneRuns} finished runs inserted in ${insertSeconds.toFixed(1)} s`);
    // As autovacuum would have left tables this size.
    await admin(async (c) => {
      await c.query("VACUUM ANALYZE runs");
      await c.query("VACUUM ANALYZE jobs");
    }, url);

    const plan = { workload: "prune", jobs: pruneRate * steadySeconds, rate: pruneRate, drainGraceMs: ctx.quick ? 5000 : 10_000, idleMs: ctx.quick ? 5000 : 10_000 };
    log(`prune: steady ${pruneRate} jobs/s for ${steadySeconds} s, no prune`);
    const quiet = await runOneShot(session, plan);
    add(ctx, "no prune", quiet, { backlogRuns: pruneRuns });
    await sleep(300);

    log(`prune: steady ${pruneRate} jobs/s for ${steadySeconds} s, the backlog pruned from T0`);
    let progress: Promise<PruneProgress> | undefined;
    const during = await runOneShot(session, { ...plan, atT0: () => (progress = pruneBacklog(url, pruneRuns)) });
    const pruned = await progress!;
    add(ctx, "during prune", during, {
      backlogRuns: pruneRuns,
      pruneSeconds: pruned.seconds,
      prunePerSec: pruned.deleted / pruned.seconds,
      pruneOverlapPct: (100 * Math.min(pruned.seconds, steadySeconds)) / steadySeconds,
      leftAfterPrune: pruned.left,
    });
  } catch (error) {
    ctx.results.add({ workload: "prune", variant: "-", system: "chime", figures: {}, notes: [], error: String(error) });
  } finally {
    await session?.close();
  }
}

function add(ctx: BenchContext, variant: string, o: OneShotOutcome, extra: Record<string, number>): void {
  ctx.results.add({
    workload: "prune",
    variant,
    system: "chime",
    figures: {
      rate: ctx.sizes.pruneRate,
      ...lagFigures(o),
      setupOverrunMs: o.setupOverrunMs,
      ...extra,
    },
    notes: [o.consumer, `server env ${JSON.stringify(PRUNE_ENV)}; backlog jobs get run_retention ${BACKLOG_RETENTION} at T0 of "during prune"`],
  });
}

/**
 * The backlog in two statements (generate_series): one-off COMPLETED jobs with one run each,
 * and recurring (paused) jobs with the rest, every run SUCCEEDED 40 days ago, a minute after
 * its scheduled time. Returns the seconds it took.
 */
async function insertBacklog(url: string, runs: number): Promise<number> {
  const oneOffs = Math.floor(runs / 10);
  const started = performance.now();
  await admin(async (c) => {
    await c.query(
      `INSERT INTO jobs (id, namespace, name, queue, labels, spec, state, next_run_time, run_count)
       SELECT gen_random_uuid(), 'default', 'backlog-' || g, 'backlog', '{}',
              CASE WHEN g < $1::int THEN '{"schedule": {"immediate": {}}}'::jsonb ELSE '{"schedule": {"interval": {"every": "3600s"}}}'::jsonb END,
              CASE WHEN g < $1::int THEN 3 ELSE 2 END, NULL, 1
       FROM generate_series(0, $1::int + $2::int - 1) AS g`,
      [oneOffs, RECURRING_JOBS],
    );
    // Run g ends g ms before 40 days ago (a minute after its scheduled time): every one-off
    // job's run first, then the rest over the recurring jobs, round robin.
    const at = (g: string) => `now() - interval '40 days' - make_interval(secs => (${g})::float8 / 1000)`;
    await c.query(
      `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, attempt, dispatch_time, start_time, end_time, create_time, update_time)
       SELECT gen_random_uuid(), j.id, 'backlog', t - interval '1 minute', 1, 4, 1, t - interval '1 minute', t - interval '1 minute', t, t - interval '1 minute', t
       FROM (SELECT id, ${at("row_number() OVER (ORDER BY id)")} AS t FROM jobs WHERE queue = 'backlog' AND state = 3) j`,
    );
    await c.query(
      `INSERT INTO runs (id, job_id, queue, scheduled_time, trigger, state, attempt, dispatch_time, start_time, end_time, create_time, update_time)
       SELECT gen_random_uuid(), rc.id, 'backlog', t - interval '1 minute', 1, 4, 1, t - interval '1 minute', t - interval '1 minute', t, t - interval '1 minute', t
       FROM (SELECT g, ${at("g")} AS t FROM generate_series($1::int, $2::int) AS g) s
       JOIN (SELECT id, row_number() OVER (ORDER BY id) - 1 AS r FROM jobs WHERE queue = 'backlog' AND state = 2) rc ON rc.r = s.g % $3::int`,
      [oneOffs + 1, runs, RECURRING_JOBS],
    );
  }, url);
  return (performance.now() - started) / 1000;
}

interface PruneProgress {
  seconds: number;
  deleted: number;
  /** Backlog runs left when the wait gave up (0: all deleted). */
  left: number;
}

/** Gives the backlog's jobs their retention, then waits (at most 30 min) until none of their runs is left. */
async function pruneBacklog(url: string, before: number): Promise<PruneProgress> {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  try {
    const started = nowMs();
    await db.query(`UPDATE jobs SET spec = spec || jsonb_build_object('runRetention', $1::text) WHERE queue = 'backlog'`, [BACKLOG_RETENTION]);
    // The backlog is the oldest of the runs: while any is left, the oldest run is one.
    const oldest = "SELECT EXISTS (SELECT 1 FROM runs WHERE scheduled_time < now() - interval '30 days') AS left";
    while ((await db.query<{ left: boolean }>(oldest)).rows[0].left && nowMs() - started < 1_800_000) await sleep(1000);
    const seconds = (nowMs() - started) / 1000;
    const left = (await db.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE queue = 'backlog'")).rows[0].n;
    log(`prune: ${before - left} backlog runs deleted in ${seconds.toFixed(1)} s (${left} left)`);
    return { seconds, deleted: before - left, left };
  } finally {
    await db.end();
  }
}
