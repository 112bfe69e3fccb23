import type { ScheduleSpec } from "@chime/sdk";
import { createChimeJobs, dispatchLag } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { analyzeRecurring } from "../recurring.js";
import { log, nowMs, sleepUntil } from "../util.js";

/**
 * An every-second cron schedule firing from `from` (ms, a whole second) until just before
 * `to`: its start time holds the first fire back to `from` however early the job is created.
 */
export function everySecondUntil(from: number, to: number): ScheduleSpec {
  return { cron: "* * * * * *", timeZone: "UTC", startTime: new Date(from - 500), endTime: new Date(to - 500) };
}

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
    // Created through the API (BatchCreateJobs) ahead of the window, 1.5 ms a job of margin;
    // startTime holds every job's first fire back to the window's first second.
    const from = Math.ceil((nowMs() + 2500 + 1.5 * jobs) / 1000) * 1000;
    const to = from + seconds * 1000;
    const insertSeconds = await createChimeJobs(session.servers[0].grpcUrl, "c-", 0, jobs, () => everySecondUntil(from, to));
    log(`cron: created ${jobs} jobs in ${insertSeconds.toFixed(1)} s${nowMs() > from ? ` — ${((nowMs() - from) / 1000).toFixed(1)} s into the window: its first fires are late` : ""}`);
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
