import type { BenchContext, SystemName } from "../config.js";
import { openOneShotSession, runOneShot, type OneShotSession } from "../oneshot.js";
import { log, sleep } from "../util.js";

/**
 * Workload 2: one-shot jobs due at a uniform rate R for D seconds, every rate in turn on
 * one database per system. A system whose p99 reached 2 s at a rate is not run at higher
 * rates (it cannot hold them either), which keeps the full run within its time budget.
 */
export async function steady(ctx: BenchContext): Promise<void> {
  const { steadyRates, steadySeconds } = ctx.sizes;
  for (const system of ctx.systems) {
    let session: OneShotSession | undefined;
    let failedAt: number | undefined;
    try {
      session = await openOneShotSession(ctx, system, "steady");
      for (const rate of steadyRates) {
        const variant = `R=${rate}/s`;
        if (failedAt !== undefined) {
          ctx.results.add({ workload: "steady", variant, system, figures: {}, notes: [`not run: p99 ≥ 2 s already at R=${failedAt}/s`] });
          continue;
        }
        log(`steady: ${system}, ${rate} jobs/s for ${steadySeconds} s`);
        const jobs = rate * steadySeconds;
        const o = await runOneShot(session, {
          workload: "steady",
          jobs,
          rate,
          drainGraceMs: ctx.quick ? 5000 : 10_000,
          idleMs: ctx.quick ? 5000 : 10_000,
          abortWhenP99Over2s: true,
        });
        const held = o.abortedAtMs === undefined && o.lag.p99 < 2000 && o.lost === 0;
        if (!held) failedAt = rate;
        ctx.results.add({
          workload: "steady",
          variant,
          system,
          figures: {
            rate,
            achievedPerSec: o.received / (o.abortedAtMs !== undefined ? o.abortedAtMs / 1000 : Math.max(steadySeconds, o.drainMs / 1000)),
            lagP50Ms: o.lag.p50,
            lagP99Ms: o.lag.p99,
            lagMaxMs: o.lag.max,
            lateOver2sPct: o.lateOver2sPct,
            lost: o.abortedAtMs === undefined ? o.lost : null,
            notStartedAtStop: o.abortedAtMs === undefined ? 0 : o.lost,
            duplicated: o.duplicated,
            ...(o.dispatch ? { dispatchLagP50Ms: o.dispatch.p50, dispatchLagP99Ms: o.dispatch.p99 } : {}),
            setupOverrunMs: o.setupOverrunMs,
          },
          notes: [
            o.consumer,
            ...(o.abortedAtMs !== undefined
              ? [`stopped ${(o.abortedAtMs / 1000).toFixed(1)} s after T0: over 1% of jobs already > 2 s late (jobs not started by then count as late; lag percentiles cover the started ones)`]
              : []),
          ],
        });
        // Let the tail (status writes, completions) settle before the next rate.
        await sleep(300);
      }
    } catch (error) {
      ctx.results.add({ workload: "steady", variant: "-", system, figures: {}, notes: [], error: String(error) });
    } finally {
      await session?.close();
    }
  }
}

/** Highest rate a system held with p99 < 2 s and nothing lost. */
export function highestHeld(ctx: BenchContext, system: SystemName): number | undefined {
  let best: number | undefined;
  for (const r of ctx.results.of("steady", system)) {
    const f = r.figures;
    if (typeof f.lagP99Ms === "number" && f.lagP99Ms < 2000 && f.lost === 0) best = Math.max(best ?? 0, Number(f.rate));
  }
  return best;
}
