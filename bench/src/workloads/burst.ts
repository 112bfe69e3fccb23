import type { BenchContext } from "../config.js";
import { COST_CLASSES } from "../cost.js";
import { lagFigures, openOneShotSession, runOneShot, type OneShotSession } from "../oneshot.js";
import { log } from "../util.js";

/** Workload 1: N one-shot jobs all due at the same instant T; drain time and start lag, and what each run cost. */
export async function burst(ctx: BenchContext): Promise<void> {
  const n = ctx.sizes.burstJobs;
  const variant = `N=${n}`;
  for (const system of ctx.systems) {
    log(`burst: ${system}, ${n} jobs at one instant`);
    let session: OneShotSession | undefined;
    try {
      session = await openOneShotSession(ctx, system, "burst");
      const o = await runOneShot(session, { workload: "burst", jobs: n, rate: Infinity, drainGraceMs: ctx.quick ? 60_000 : 240_000, idleMs: ctx.quick ? 10_000 : 15_000, measureCost: true });
      ctx.results.add({
        workload: "burst",
        variant,
        system,
        figures: {
          drainMs: o.drainMs,
          throughputPerSec: o.received / (Math.max(1, o.drainMs) / 1000),
          ...lagFigures(o),
          insertSeconds: o.insertSeconds,
          insertPerSec: n / o.insertSeconds,
          setupOverrunMs: o.setupOverrunMs,
        },
        notes: [o.consumer, system === "chime" ? "inserted with the SDK client's BatchCreateJobs" : system === "graphile-worker" ? "inserted with WorkerUtils.addJobs" : "inserted with boss.insert"],
      });
      // Row writes are read once the system's processes are gone: their backends flush their statistics at exit.
      await session.stop();
      if (o.cost && session.meter) {
        const writes = await session.meter.rowWrites();
        const runs = o.received;
        const us = (cls: (typeof COST_CLASSES)[number]) => (o.cost!.cpuSeconds[cls] === undefined ? null : (o.cost!.cpuSeconds[cls]! * 1e6) / runs);
        const total = COST_CLASSES.reduce((sum, cls) => sum + (o.cost!.cpuSeconds[cls] ?? 0), 0);
        const byTable: Record<string, number> = {};
        for (const [table, rows] of Object.entries(writes.byTable)) byTable[table] = rows / runs;
        ctx.results.add({
          workload: "cost",
          variant: `burst ${variant}`,
          system,
          figures: {
            runs,
            serverUs: us("server"),
            workerUs: us("worker"),
            postgresUs: us("postgres"),
            natsUs: us("nats"),
            benchUs: us("bench"),
            totalUs: (total * 1e6) / runs,
            rowWritesPerRun: writes.total / runs,
            windowMs: o.cost.windowMs,
            postgresBackends: o.cost.backends,
          },
          breakdown: byTable,
          notes: [
            `window: T0 − 1.2 s to ${o.cost.doneFromDatabase ? "every run finished (per its database)" : "the last handler start (its database could not tell when all runs had finished)"}`,
            ...(o.cost.insertStatsSettled ? [] : ["the insert's table statistics had not all been flushed at the window's start: row writes may include part of the insert"]),
          ],
        });
      }
    } catch (error) {
      ctx.results.add({ workload: "burst", variant, system, figures: {}, notes: [], error: String(error) });
    } finally {
      await session?.close();
    }
  }
}
