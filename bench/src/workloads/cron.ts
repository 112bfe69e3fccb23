import { cronScheduleSql, dispatchLag, insertChimeJobs } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { analyzeRecurring } from "../recurring.js";
import { log, nowMs, sleepUntil } from "../util.js";

const iso = (expr: string) => `to_char((${expr}) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** SQL of an every-second cron schedule that ends just before `$5` (ms). */
export const everySecondUntil = `${cronScheduleSql("'* * * * * *'").slice(0, -1)}, 'endTime', ${iso("to_timestamp(($5::float8 - 500) / 1000.0)")})`;

/** Workload 3 (Chime only): a fleet of every-second cron jobs for D seconds. */
export async function cronFleet(ctx: BenchContext): Promise<void> {
  const { cronJobs: jobs, cronSeconds: seconds } = ctx.sizes;
  if (!ctx.systems.includes("chime")) return;
  const variant = `${jobs} jobs × ${seconds} s`;
  let session: ChimeSession | undefined;
  try {
    log(`cron: ${jobs} jobs firing every second for ${seconds} s`);
    session = await openChimeSession(ctx, "cron");
    const consumer = await session.startConsumer();
    const from = Math.ceil((nowMs() + 2500 + jobs / 10) / 1000) * 1000;
    const to = from + seconds * 1000;
    await insertChimeJobs(session.db.url, session.spec, {
      namePrefix: "c-",
      from: 0,
      to: jobs,
      scheduleSql: everySecondUntil,
      nextRunSql: "to_timestamp($4::float8 / 1000.0)",
      params: [from, to],
    });
    await sleepUntil(from);
    await consumer.waitFor(jobs * seconds, { idleMs: 5000, deadlineMs: to + 30_000 });
    const starts = await consumer.take();
    const o = analyzeRecurring(starts, "c-", jobs, from, to);
    const dispatch = await dispatchLag(session.db.url);
    ctx.results.add({
      workload: "cron",
      variant,
      system: "chime",
      figures: {
        runsPerSec: o.received / seconds,
        targetPerSec: jobs,
        minSecondRuns: Math.min(...o.perSecond),
        lagP50Ms: o.lag.p50,
        lagP99Ms: o.lag.p99,
        lagMaxMs: o.lag.max,
        missed: o.missed,
        duplicated: o.duplicated,
        dispatchLagP50Ms: dispatch.p50,
        dispatchLagP99Ms: dispatch.p99,
      },
      notes: [consumer.description],
    });
  } catch (error) {
    ctx.results.add({ workload: "cron", variant, system: "chime", figures: {}, notes: [], error: String(error) });
  } finally {
    await session?.close();
  }
}
