/**
 * Runs N one-shot jobs with due times T0 + offset(i) on one system and measures when each
 * handler started. Burst (all at T0) and steady (uniform rate) are both this.
 */
import { atScheduleSql, benchPrefix, deleteNatsPrefix, dispatchLag, insertChimeJobs, QUEUE, startChime, templateSpec, type ChimeProcess } from "./chime.js";
import type { BenchContext, SystemName } from "./config.js";
import { chimeConsumerKind, startConsumer, type Consumer, type Start } from "./consumer.js";
import { freshDatabase, NATS_URL, type BenchDatabase } from "./pg.js";
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
}

/** Rows per second each system's bulk insert reaches, refined as the run goes (sets T0's margin). */
const insertRate: Record<SystemName, number> = { chime: 20_000, "graphile-worker": 20_000, "pg-boss": 8000 };

function offsetMs(i: number, rate: number): number {
  return Number.isFinite(rate) ? Math.floor((i * 1000) / rate) : 0;
}

/** One system's fresh database (and Chime server and NATS prefix) with its consumer running. */
export interface OneShotSession {
  system: SystemName;
  db: BenchDatabase;
  server?: ChimeProcess;
  consumer: Consumer;
  spec?: object;
  /** Jobs inserted so far; each plan's jobs get the next indices. */
  inserted: number;
  close(): Promise<void>;
}

export async function openOneShotSession(ctx: BenchContext, system: SystemName, workload: string): Promise<OneShotSession> {
  let db: BenchDatabase | undefined;
  let server: ChimeProcess | undefined;
  let prefix: string | undefined;
  let consumer: Consumer | undefined;
  const close = async () => {
    consumer?.kill();
    if (server) await server.kill("SIGTERM");
    if (prefix) await deleteNatsPrefix(prefix).catch(() => undefined);
    await db?.drop();
  };
  try {
    db = await freshDatabase(system, { create: system !== "chime" });
    let spec: object | undefined;
    if (system === "chime") {
      prefix = benchPrefix(workload);
      server = await startChime({ databaseUrl: db.url, prefix, cpuProfDir: ctx.cpuProfDir });
      spec = await templateSpec(server.grpcUrl, db.url);
      consumer = await startConsumer({ kind: chimeConsumerKind(ctx.chimeConsumer), natsUrl: NATS_URL, prefix, queue: QUEUE, concurrency: ctx.workerConcurrency });
    } else if (system === "graphile-worker") {
      await prepareGraphile(db.url);
      consumer = await startConsumer({ kind: "graphile", databaseUrl: db.url, queue: QUEUE });
    } else {
      await preparePgBoss(db.url);
      consumer = await startConsumer({ kind: "pgboss", databaseUrl: db.url, queue: QUEUE });
    }
    return { system, db, server, consumer, spec, inserted: 0, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/** Inserts the plan's jobs (due from a T0 far enough ahead for the insert), waits for their handlers, and measures. */
export async function runOneShot(session: OneShotSession, plan: OneShotPlan): Promise<OneShotOutcome> {
  const { system, db } = session;
  const from = session.inserted;
  const to = from + plan.jobs;
  session.inserted = to;
  const before = session.consumer.count();
  const marginMs = 1000 + (1.5 * plan.jobs * 1000) / insertRate[system];
  const t0 = Math.ceil((nowMs() + marginMs) / 100) * 100;
  // Due time of job g (its index counts from `from`).
  const rateSql = Number.isFinite(plan.rate) ? `floor((g - ${from}) * 1000.0 / $5::float8)` : "0";
  const dueSql = `to_timestamp(($4::float8 + ${rateSql}) / 1000.0)`;
  const params = Number.isFinite(plan.rate) ? [t0, plan.rate] : [t0];
  log(`${system}: inserting ${plan.jobs} jobs due from T0 (in ${((t0 - nowMs()) / 1000).toFixed(1)} s)`);
  let insertSeconds: number;
  if (system === "chime") {
    insertSeconds = await insertChimeJobs(db.url, session.spec!, {
      namePrefix: "b-",
      from,
      to,
      scheduleSql: atScheduleSql(dueSql),
      nextRunSql: dueSql,
      params,
    });
  } else if (system === "graphile-worker") {
    insertSeconds = await insertGraphileJobs(db.url, from, to, (i) => t0 + offsetMs(i - from, plan.rate));
  } else {
    insertSeconds = await insertPgBossJobs(db.url, from, to, (i) => t0 + offsetMs(i - from, plan.rate));
  }
  insertRate[system] = Math.max(1000, plan.jobs / insertSeconds);
  const setupOverrunMs = Math.max(0, nowMs() - t0);
  if (setupOverrunMs > 0) log(`${system}: WARNING the insert finished ${setupOverrunMs.toFixed(0)} ms after T0; lags include it`);
  log(`${system}: inserted in ${insertSeconds.toFixed(1)} s`);
  await sleepUntil(t0);

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
  };
}
