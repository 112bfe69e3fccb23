import type { ScheduleSpec } from "@chime/sdk";
import { cpuShare, createChimeJobs, dispatchLag, procSample } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { admin, relationSize } from "../pg.js";
import { log, nowMs, sleep, sleepUntil, summarize } from "../util.js";

/** An hourly cron job at the minute and second of `ms` (a whole second), held back until then by its start time. */
function hourlyAt(ms: number): ScheduleSpec {
  const t = new Date(ms);
  return { cron: `${t.getUTCSeconds()} ${t.getUTCMinutes()} * * * *`, timeZone: "UTC", startTime: new Date(ms - 500) };
}

/**
 * Workload 5 (Chime only): many stored recurring jobs (hourly cron, fire times spread over
 * an hour starting ten minutes out) against a small baseline. Both get the same due subset:
 * probe jobs firing at the rate the large set fires on average (at least 200/s) during a
 * window; measured: the server's idle CPU and memory before the window, the jobs table
 * size, and the probes' lag.
 */
export async function scale(ctx: BenchContext): Promise<void> {
  if (!ctx.systems.includes("chime")) return;
  const { scaleJobs, scaleBaselineJobs, scaleIdleSeconds, scaleWindowSeconds: windowSeconds } = ctx.sizes;
  const probeRate = Math.max(200, Math.round(scaleJobs / 3600));
  const probes = probeRate * windowSeconds;
  for (const stored of [scaleBaselineJobs, scaleJobs]) {
    const background = stored === scaleJobs ? scaleJobs - probes : scaleBaselineJobs;
    const variant = stored === scaleJobs ? `${scaleJobs} stored` : `${scaleBaselineJobs} stored + probes`;
    let session: ChimeSession | undefined;
    try {
      log(`scale: ${background} background jobs + ${probes} probes (${probeRate}/s for ${windowSeconds} s)`);
      session = await openChimeSession(ctx, "scale");
      const url = session.db.url;
      const base = Math.ceil(Date.now() / 1000) * 1000 + 600_000;
      const grpcUrl = session.servers[0].grpcUrl;
      const insertSeconds = await createChimeJobs(grpcUrl, "s-", 0, background, (g) => hourlyAt(base + Math.floor((g * 3600) / background) * 1000));
      log(`scale: inserted ${background} jobs in ${insertSeconds.toFixed(1)} s`);
      // A table this size would have been vacuumed and analysed by autovacuum in steady state.
      await admin((c) => c.query("VACUUM ANALYZE jobs"), url);
      const consumer = await session.startConsumer();
      // 1.5 ms a job of margin for creating the probes, as the cron workload allows.
      const windowFrom = Math.ceil((nowMs() + 2500 + 1.5 * probes + scaleIdleSeconds * 1000) / 1000) * 1000;
      await createChimeJobs(grpcUrl, "p-", 0, probes, (g) => hourlyAt(windowFrom + (g % windowSeconds) * 1000));
      const leader = session.servers[0];
      await sleep(1500);
      const idleFrom = procSample(leader.pid);
      await sleepUntil(windowFrom - 200);
      const idleTo = procSample(leader.pid);
      const tableBytes = await relationSize(url, "jobs");
      await consumer.waitFor(probes, { idleMs: 5000, deadlineMs: windowFrom + windowSeconds * 1000 + 15_000 });
      const busyTo = procSample(leader.pid);
      const starts = (await consumer.take()).filter((s) => s.key.startsWith("p-"));
      const seen = new Set<string>();
      const lags: number[] = [];
      for (const s of starts) {
        if (seen.has(s.key)) continue;
        seen.add(s.key);
        lags.push(s.startMs - s.scheduledMs);
      }
      const lag = summarize(lags);
      const dispatch = await dispatchLag(url);
      ctx.results.add({
        workload: "scale",
        variant,
        system: "chime",
        figures: {
          storedJobs: background + probes,
          idleCpuPct: 100 * cpuShare(idleFrom, idleTo),
          windowCpuPct: 100 * cpuShare(idleTo, busyTo),
          rssMB: idleTo.rssBytes / 2 ** 20,
          jobsTableMB: tableBytes / 2 ** 20,
          probeRuns: seen.size,
          missed: probes - seen.size,
          duplicated: starts.length - seen.size,
          lagP50Ms: lag.p50,
          lagP99Ms: lag.p99,
          lagMaxMs: lag.max,
          dispatchLagP99Ms: dispatch.p99,
          insertSeconds,
        },
        notes: [consumer.description, `idle: ${scaleIdleSeconds} s with nothing due; probes: ${probeRate}/s for ${windowSeconds} s`],
      });
    } catch (error) {
      ctx.results.add({ workload: "scale", variant, system: "chime", figures: {}, notes: [], error: String(error) });
    } finally {
      await session?.close();
    }
  }
}
