import pg from "pg";
import { createChimeJobs } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { analyzeRecurring } from "../recurring.js";
import { log, nowMs, sleep, sleepUntil } from "../util.js";
import { everySecondUntil } from "./cron.js";

/**
 * Workload 6 (Chime only): two servers, every-second cron jobs at R runs/s, two SDK
 * workers; kill -9 the leader and measure the gap to the new leader's first dispatch, the
 * lag after the kill, and lost or duplicated runs over the whole window.
 */
export async function failover(ctx: BenchContext): Promise<void> {
  if (!ctx.systems.includes("chime")) return;
  const { failoverRate: jobs, failoverSeconds: after } = ctx.sizes;
  const warmup = ctx.quick ? 3 : 8;
  const variant = `${jobs} runs/s, kill -9 leader`;
  let session: ChimeSession | undefined;
  try {
    log(`failover: 2 servers, ${jobs} runs/s, kill -9 the leader after ${warmup} s, observe ${after} s`);
    session = await openChimeSession(ctx, "failover", { servers: 2 });
    const consumer = await session.startConsumer(2);
    const from = Math.ceil((nowMs() + 2500) / 1000) * 1000;
    const to = from + (warmup + after + 1) * 1000;
    await createChimeJobs(session.servers[0].grpcUrl, "f-", 0, jobs, () => everySecondUntil(from, to));
    await sleepUntil(from + warmup * 1000 + 300);
    const db = new pg.Client({ connectionString: session.db.url });
    await db.connect();
    let leaderId: string;
    let killedAt: number;
    let firstDispatchMs: number | null = null;
    let newLeader = "";
    try {
      leaderId = (await db.query<{ leader_id: string }>("SELECT leader_id FROM scheduler_leader")).rows[0]?.leader_id ?? "";
      const leader = session.servers.find((s) => s.serverId === leaderId);
      if (!leader) throw new Error(`leader ${JSON.stringify(leaderId)} is not one of the benchmark's servers`);
      killedAt = nowMs();
      await leader.kill("SIGKILL");
      log(`failover: killed leader ${leaderId}`);
      await sleepUntil(to);
      await consumer.waitFor(Number.POSITIVE_INFINITY, { idleMs: 3000, deadlineMs: to + 20_000 });
      const { rows } = await db.query<{ first: number | null }>(
        "SELECT extract(epoch FROM min(dispatch_time)) * 1000 AS first FROM runs WHERE dispatch_time > to_timestamp($1::float8 / 1000.0)",
        [killedAt],
      );
      firstDispatchMs = rows[0].first === null ? null : Number(rows[0].first) - killedAt;
      newLeader = (await db.query<{ leader_id: string }>("SELECT leader_id FROM scheduler_leader")).rows[0]?.leader_id ?? "";
    } finally {
      await db.end();
    }
    await sleep(300);
    const starts = await consumer.take();
    const all = analyzeRecurring(starts, "f-", jobs, from, to);
    const afterKill = analyzeRecurring(starts, "f-", jobs, Math.floor(killedAt / 1000) * 1000, Math.floor(killedAt / 1000) * 1000 + after * 1000);
    ctx.results.add({
      workload: "failover",
      variant,
      system: "chime",
      figures: {
        firstDispatchAfterKillMs: firstDispatchMs,
        lagMaxAfterKillMs: afterKill.lag.max,
        lagP99AfterKillMs: afterKill.lag.p99,
        lagP99BeforeKillMs: analyzeRecurring(starts, "f-", jobs, from, Math.floor(killedAt / 1000) * 1000).lag.p99,
        expected: all.expected,
        lost: all.missed,
        duplicated: all.duplicated,
      },
      notes: [consumer.description, `leader ${leaderId} killed; new leader ${newLeader}`, `observed ${after} s after the kill`],
    });
  } catch (error) {
    ctx.results.add({ workload: "failover", variant, system: "chime", figures: {}, notes: [], error: String(error) });
  } finally {
    await session?.close();
  }
}
