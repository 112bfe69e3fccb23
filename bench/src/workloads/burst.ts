import type { BenchContext } from "../config.js";
import { openOneShotSession, runOneShot, type OneShotSession } from "../oneshot.js";
import { log } from "../util.js";

/** Workload 1: N one-shot jobs all due at the same instant T; drain time and start lag. */
export async function burst(ctx: BenchContext): Promise<void> {
  const n = ctx.sizes.burstJobs;
  for (const system of ctx.systems) {
    log(`burst: ${system}, ${n} jobs at one instant`);
    let session: OneShotSession | undefined;
    try {
      session = await openOneShotSession(ctx, system, "burst");
      const o = await runOneShot(session, { workload: "burst", jobs: n, rate: Infinity, drainGraceMs: ctx.quick ? 60_000 : 240_000, idleMs: 15_000 });
      ctx.results.add({
        workload: "burst",
        variant: `N=${n}`,
        system,
        figures: {
          drainMs: o.drainMs,
          throughputPerSec: o.received / (Math.max(1, o.drainMs) / 1000),
          lagP50Ms: o.lag.p50,
          lagP99Ms: o.lag.p99,
          lagMaxMs: o.lag.max,
          lost: o.lost,
          duplicated: o.duplicated,
          ...(o.dispatch ? { dispatchLagP50Ms: o.dispatch.p50, dispatchLagP99Ms: o.dispatch.p99 } : {}),
          insertSeconds: o.insertSeconds,
          setupOverrunMs: o.setupOverrunMs,
        },
        notes: [o.consumer],
      });
    } catch (error) {
      ctx.results.add({ workload: "burst", variant: `N=${n}`, system, figures: {}, notes: [], error: String(error) });
    } finally {
      await session?.close();
    }
  }
}
