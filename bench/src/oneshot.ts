/**
 * Runs N one-shot jobs with due times T0 + offset(i) on one system and measures when each
 * handler started. Burst (all at T0) and steady (uniform rate) are both this.
 */
import { benchPrefix, CHIME_SETTINGS, createChimeJobs, deleteNatsPrefix, dispatchLag, QUEUE, startChime, type ChimeProcess } from "./chime.js";
import type { BenchContext, SystemName } from "./config.js";
import { chimeConsumerKind, startConsumer, type Consumer, type Start } from "./consumer.js";
import { openCostMeter, type CostMeter, type CostWindow } from "./cost.js";
import { admin, freshDatabase, NATS_URL, type BenchDatabase } from "./pg.js";
import { insertGraphileJobs, insertPgBossJobs, prepareGraphile, preparePgBoss } from "./peers.js";
import { log, nowMs, sleep, sleepUntil, summarize, type Summary } from "./util.js";

export interface OneShotPlan {
  workload: string;
  jobs: number;
  /** Jobs per second; Infinity = all at T0. */
  rate: number;
  /** After the last due time, how long to wait for stragglers at most. */
  drainGraceMs: number;
  /** Stop waiting when no handler started for this long. */
  idleMs: number;
  /** Steady: stop as soon as p99 ≥ 2 s is certain (the rate is not held), to save time. */
  abortWhenP99Over2s?: boolean;
  /**
   * Burst: measure CPU by process class from just before the first run can be prepared
   * (T0 − 1.2 s: Chime writes runs up to its 1 s lookahead early) until every run has
   * finished, and start the table-statistics window there (see cost.ts).
   */
  measureCost?: boolean;
  /** Called at T0, as the first jobs fall due (prune: starts the prune). */
  atT0?: () => void;
}

export interface OneShotOutcome {
  t0: number;
  /** Handler starts of distinct jobs, and everything else. */
  received: number;
  lost: number;
  duplicated: number;
  lag: Summary;
  /** ms from T0 to the last handler start. */
  drainMs: number;
  lateOver2sPct: number;
  /** The insert finished after T0 by this much (0 when in time): the run is flawed. */
  setupOverrunMs: number;
  insertSeconds: number;
  consumer: string;
  /** Set when the run was stopped early (ms after T0) because p99 ≥ 2 s was already certain. */
  abortedAtMs?: number;
  /** Chime only: scheduled → JetStream publish acknowledged, from the run rows. */
  dispatch?: { runs: number; dispatched: number; p50: number; p99: number; max: number };
  /** With measureCost: the CPU window, and whether its end was "every run finished" as the database tells (else the last handler start). */
  cost?: CostWindow & { doneFromDatabase: boolean; insertStatsSettled: boolean };
}

/** An outcome's start lags, lost and duplicated runs and (Chime) dispatch lags, as result figures. */
export function lagFigures(o: OneShotOutcome): Record<string, number> {
  return {
    lagP50Ms: o.lag.p50,
    lagP99Ms: o.lag.p99,
    lagMaxMs: o.lag.max,
    lost: o.lost,
    duplicated: o.duplicated,
    ...(o.dispatch ? { dispatchLagP50Ms: o.dispatch.p50, dispatchLagP99Ms: o.dispatch.p99 } : {}),
  };
}

/** Rows per second each system's bulk insert reaches, refined as the run goes (sets T0's margin). */
const insertRate: Record<SystemName, number> = { chime: 5000, "graphile-worker": 20_000, "pg-boss": 8000 };
/** Whether insertRate[system] was measured in this process (Chime's is calibrated before its first plan: a job due in the past is refused). */
const insertRateMeasured = new Set<SystemName>();

/** measureCost: the CPU window opens this long before T0. */
const COST_LEAD_MS = 1200;

function offsetMs(i: number, rate: number): number {
  return Number.isFinite(rate) ? Math.floor((i * 1000) / rate) : 0;
}

/** One system's fresh database (and Chime server and NATS prefix) with its consumer running. */
export interface OneShotSession {
  system: SystemName;
  db: BenchDatabase;
  server?: ChimeProcess;
  /** Chime's ingest role in a process of its own (--chime-ingest-process). */
  ingest?: ChimeProcess;
  consumer: Consumer;
  /** Jobs inserted so far; each plan's jobs get the next indices. */
  inserted: number;
  /** Calibration jobs inserted besides (Chime). */
  calibrationJobs: number;
  /** With measureCost: the meter of the last plan (its row writes are read after stop()). */
  meter?: CostMeter;
  /** Stops the consumer and the server, keeping the database. */
  stop(): Promise<void>;
  /** stop(), then drops the database and the NATS prefix. */
  close(): Promise<void>;
}

/** `env`: Chime server settings of the workload's own, on top of the benchmark's. */
export async function openOneShotSession(ctx: BenchContext, system: SystemName, workload: string, env: Record<string, string> = {}): Promise<OneShotSession> {
  let db: BenchDatabase | undefined;
  let server: ChimeProcess | undefined;
  /** The second server process when ingestion runs apart (--chime-ingest-process). */
  let ingest: ChimeProcess | undefined;
  let prefix: string | undefined;
  let consumer: Consumer | undefined;
  let session: OneShotSession | undefined;
  const stop = async () => {
    consumer?.kill();
    if (server) await server.kill("SIGTERM");
    if (ingest) await ingest.kill("SIGTERM");
  };
  const close = async () => {
    await stop();
    await session?.meter?.close();
    if (prefix) await deleteNatsPrefix(prefix).catch(() => undefined);
    await db?.drop();
  };
  try {
    db = await freshDatabase(system, { create: system !== "chime" });
    if (system === "chime") {
      prefix = benchPrefix(workload);
      if (ctx.chimeIngestProcess) {
        const others = CHIME_SETTINGS.CHIME_ROLES.split(",").filter((role) => role !== "ingest").join(",");
        server = await startChime({ databaseUrl: db.url, prefix, cpuProfDir: ctx.cpuProfDir, env: { ...env, CHIME_ROLES: others } });
        ingest = await startChime({ databaseUrl: db.url, prefix, cpuProfDir: ctx.cpuProfDir, serverId: `${workload}-ingest`, env: { ...env, CHIME_ROLES: "ingest" } });
      } else {
        server = await startChime({ databaseUrl: db.url, prefix, cpuProfDir: ctx.cpuProfDir, env });
      }
      consumer = await startConsumer({ kind: chimeConsumerKind(ctx.chimeConsumer), natsUrl: NATS_URL, prefix, queue: QUEUE, concurrency: ctx.workerConcurrency });
    } else if (system === "graphile-worker") {
      await prepareGraphile(db.url);
      consumer = await startConsumer({ kind: "graphile", databaseUrl: db.url, queue: QUEUE });
    } else {
      await preparePgBoss(db.url);
      consumer = await startConsumer({ kind: "pgboss", databaseUrl: db.url, queue: QUEUE });
    }
    session = { system, db, server, ingest, consumer, inserted: 0, calibrationJobs: 0, stop, close };
    return session;
  } catch (error) {
    await close();
    throw error;
  }
}

/** Inserts the plan's jobs (due from a T0 far enough ahead for the insert), ANALYZEs, waits for their handlers, and measures. */
export async function runOneShot(session: OneShotSession, plan: OneShotPlan): Promise<OneShotOutcome> {
  const { system, db } = session;
  const from = session.inserted;
  const to = from + plan.jobs;
  session.inserted = to;
  const before = session.consumer.count();
  if (system === "chime" && !insertRateMeasured.has(system)) {
    // BatchCreateJobs refuses a job whose time has passed, so T0 must not be missed: measure
    // the insert rate first with jobs due in a year (they never fire during the run).
    const n = Math.min(2000, Math.max(200, Math.floor(plan.jobs / 10)));
    const seconds = await createChimeJobs(session.server!.grpcUrl, "calibrate-", 0, n, () => ({ at: new Date(Date.now() + 365 * 86_400_000) }));
    insertRate[system] = Math.max(500, n / seconds);
    insertRateMeasured.add(system);
    session.calibrationJobs += n;
    log(`chime: ${n} calibration jobs (due in a year) at ${Math.round(insertRate[system])} jobs/s`);
  }
  const marginMs = 1000 + (1.5 * plan.jobs * 1000) / insertRate[system] + (plan.measureCost ? COST_LEAD_MS + 2000 : 0);
  const t0 = Math.ceil((nowMs() + marginMs) / 100) * 100;
  const dueMs = (i: number) => t0 + offsetMs(i - from, plan.rate);
  // Chime refuses a job due in the past: should its insert overrun T0 after all, the late
  // jobs are made due just ahead instead (the run then reports setupOverrunMs, and lags
  // still count from the planned due time).
  let meter: CostMeter | undefined;
  if (plan.measureCost) {
    meter = await openCostMeter({ system, databaseUrl: db.url, serverPids: [session.server, session.ingest].flatMap((s) => (s ? [s.pid] : [])), workerPids: [session.consumer.pid] });
    session.meter = meter;
  }
  log(`${system}: inserting ${plan.jobs} jobs due from T0 (in ${((t0 - nowMs()) / 1000).toFixed(1)} s)`);
  let insertSeconds: number;
  if (system === "chime") insertSeconds = await createChimeJobs(session.server!.grpcUrl, "b-", from, to, (i) => ({ at: new Date(Math.max(dueMs(i), Date.now() + 500)) }));
  else if (system === "graphile-worker") insertSeconds = await insertGraphileJobs(db.url, from, to, dueMs);
  else insertSeconds = await insertPgBossJobs(db.url, from, to, dueMs);
  // As in steady state, where autovacuum would have analysed the freshly filled tables: the
  // same for every system, before T0 (and before the cost window).
  const analyzeStarted = performance.now();
  await admin((c) => c.query("ANALYZE"), db.url);
  const analyzeMs = performance.now() - analyzeStarted;
  insertRate[system] = Math.max(system === "chime" ? 500 : 1000, plan.jobs / insertSeconds);
  insertRateMeasured.add(system);
  const setupOverrunMs = Math.max(0, nowMs() - t0);
  if (setupOverrunMs > 0) log(`${system}: WARNING the insert finished ${setupOverrunMs.toFixed(0)} ms after T0; lags include it`);
  log(`${system}: inserted in ${insertSeconds.toFixed(1)} s (${Math.round(plan.jobs / insertSeconds)} jobs/s), then ANALYZE (${analyzeMs.toFixed(0)} ms)`);
  let insertStatsSettled = true;
  if (meter) {
    // The window's row writes must not include the insert's: wait until Postgres has counted it.
    insertStatsSettled = await meter.waitForInsertStats(to + session.calibrationJobs, t0 - COST_LEAD_MS - 100);
    if (!insertStatsSettled) log(`${system}: the insert's table statistics were not all flushed before the window; row writes may include some of it`);
    await sleepUntil(t0 - COST_LEAD_MS);
    await meter.begin();
  }
  await sleepUntil(t0);
  plan.atT0?.();

  const lastDue = t0 + offsetMs(plan.jobs - 1, plan.rate);
  let abortedAtMs: number | undefined;
  if (plan.abortWhenP99Over2s && Number.isFinite(plan.rate)) {
    // Stop early once more than 1% of the jobs are certainly later than 2 s: the jobs due
    // before now − 2 s outnumber the handler starts by more than 1% of all jobs.
    for (;;) {
      const done = await session.consumer.waitFor(before + plan.jobs, { idleMs: plan.idleMs, deadlineMs: Math.min(nowMs() + 1000, lastDue + plan.drainGraceMs) });
      if (done || nowMs() >= lastDue + plan.drainGraceMs) break;
      const dueBefore = Math.min(plan.jobs, Math.max(0, Math.floor(((nowMs() - 2000 - t0) * plan.rate) / 1000)));
      if (dueBefore - (session.consumer.count() - before) > plan.jobs * 0.01) {
        abortedAtMs = nowMs() - t0;
        log(`${system}: stopped after ${(abortedAtMs / 1000).toFixed(1)} s: over 1% of the jobs are already more than 2 s late`);
        break;
      }
    }
  } else {
    await session.consumer.waitFor(before + plan.jobs, { idleMs: plan.idleMs, deadlineMs: lastDue + plan.drainGraceMs });
  }
  let cost: OneShotOutcome["cost"];
  if (meter) {
    const doneFromDatabase = await meter.waitDone(30_000);
    cost = { ...(await meter.end()), doneFromDatabase, insertStatsSettled };
  }
  // Give late duplicates a moment to show up.
  await sleep(300);
  log(`${system}: ${session.consumer.count() - before} of ${plan.jobs} handler starts; collecting`);
  const starts = await session.consumer.take();

  const firstByKey = new Map<number, Start>();
  let duplicated = 0;
  for (const s of starts) {
    const index = Number(s.key.startsWith("b-") ? s.key.slice(2) : s.key);
    if (index < from || index >= to) continue;
    if (firstByKey.has(index)) {
      duplicated++;
      continue;
    }
    firstByKey.set(index, s);
  }
  const lags = new Float64Array(firstByKey.size);
  let k = 0;
  let lastStart = t0;
  let late = 0;
  for (const [index, s] of firstByKey) {
    const lag = s.startMs - (t0 + offsetMs(index - from, plan.rate));
    lags[k++] = lag;
    if (lag > 2000) late++;
    if (s.startMs > lastStart) lastStart = s.startMs;
  }
  const lost = plan.jobs - firstByKey.size;
  let dispatch: OneShotOutcome["dispatch"];
  if (system === "chime") {
    dispatch = await dispatchLag(db.url, "scheduled_time >= to_timestamp($1::float8 / 1000.0) AND scheduled_time <= to_timestamp($2::float8 / 1000.0)", [t0, lastDue]);
  }
  return {
    t0,
    received: firstByKey.size,
    lost,
    duplicated,
    lag: summarize(lags),
    drainMs: lastStart - t0,
    // Jobs that never started count as late.
    lateOver2sPct: (100 * (late + lost)) / plan.jobs,
    setupOverrunMs,
    insertSeconds,
    consumer: session.consumer.description,
    dispatch,
    abortedAtMs,
    cost,
  };
}
