import { cpuShare, dispatchLag, insertChimeJobs, procSample } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { admin, relationSize } from "../pg.js";
import { log, nowMs, sleep, sleepUntil, summarize } from "../util.js";

/** Cron expression (hourly, at the minute and second of `t`) and fire time, as SQL over `t`. */
const hourlyAt = (t: string) =>
  `jsonb_build_object('cron', jsonb_build_object('expression', extract(second FROM ${t})::int || ' ' || extract(minute FROM ${t})::int || ' * * * *', 'timeZone', 'UTC'))`;

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
      const bgTime = "to_timestamp(($4::float8 + floor(g * 3600.0 / $5::float8) * 1000) / 1000.0)";
      const insertSeconds = await insertChimeJobs(url, session.spec, {
        namePrefix: "s-",
        from: 0,
        to: background,
        scheduleSql: hourlyAt(bgTime),
        nextRunSql: bgTime,
        params: [base, background],
      });
      log(`scale: inserted ${background} jobs in ${insertSeconds.toFixed(1)} s`);
      // A table this size would have been vacuumed and analysed by autovacuum in steady state.
      await admin((c) => c.query("VACUUM ANALYZE jobs"), url);
      const consumer = await session.startConsumer();
      const windowFrom = Math.ceil((nowMs() + 2500 + scaleIdleSeconds * 1000) / 1000) * 1000;
      const probeTime = `to_timestamp(($4::float8 + mod(g, $5::int) * 1000) / 1000.0)`;
      await insertChimeJobs(url, session.spec, {
        namePrefix: "p-",
        from: 0,
        to: probes,
        scheduleSql: hourlyAt(probeTime),
        nextRunSql: probeTime,
        params: [windowFrom, windowSeconds],
      });
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
