import { makeWorkerUtils } from "graphile-worker";
import PgBoss from "pg-boss";
import pg from "pg";
import { createChimeClient } from "@chime/sdk";
import { QUEUE } from "../chime.js";
import { openChimeSession } from "../chime-session.js";
import type { BenchContext, SystemName } from "../config.js";
import { freshDatabase, type BenchDatabase } from "../pg.js";
import { PGBOSS_QUEUE, prepareGraphile, preparePgBoss, silentGraphileLogger } from "../peers.js";
import { log, nowMs, summarize } from "../util.js";

const WARMUP_MS = 1000;

/** Calls `call` from `concurrency` loops for `seconds` (after a warm-up); counts calls and their latency. */
async function load(call: (i: number) => Promise<unknown>, concurrency: number, seconds: number) {
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const measureFrom = nowMs() + WARMUP_MS;
  const end = measureFrom + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (nowMs() < end) {
        const i = next++;
        const t = nowMs();
        try {
          await call(i);
          if (t >= measureFrom) latencies.push(nowMs() - t);
        } catch (error) {
          errors++;
          firstError ??= String(error);
        }
      }
    }),
  );
  return { ok: latencies.length, errors, firstError, latency: summarize(latencies), perSec: latencies.length / seconds };
}

/** Workload 4: one create/enqueue per call from 64 concurrent callers. */
export async function api(ctx: BenchContext): Promise<void> {
  const { apiSeconds: seconds, apiConcurrency: concurrency } = ctx.sizes;
  const runAt = new Date(Date.now() + 30 * 86_400_000);
  for (const system of ctx.systems) {
    log(`api: ${system}, ${concurrency} callers for ${seconds} s`);
    let close: (() => Promise<void>) | undefined;
    let note = "";
    try {
      let call: (i: number) => Promise<unknown>;
      if (system === "chime") {
        const session = await openChimeSession(ctx, "api");
        close = session.close;
        const client = createChimeClient({ baseUrl: session.servers[0].grpcUrl, timeoutMs: 10_000 });
        call = (i) => client.createJob({ name: `api-${i}`, queue: QUEUE, schedule: { at: runAt }, payload: { i } });
        note = "SDK createChimeClient (gRPC, one HTTP/2 connection), CreateJob of a one-shot job 30 days ahead";
      } else {
        const db: BenchDatabase = await freshDatabase(system);
        if (system === "graphile-worker") {
          await prepareGraphile(db.url);
          // Our own pool (graphile's default size, 10) so that its end is awaited before the drop.
          const pool = new pg.Pool({ connectionString: db.url, max: 10 });
          pool.on("error", () => undefined);
          const utils = await makeWorkerUtils({ pgPool: pool, logger: silentGraphileLogger() });
          close = async () => {
            await utils.release();
            await pool.end();
            await db.drop();
          };
          call = (i) => utils.addJob("bench", { i }, { runAt });
          note = "WorkerUtils.addJob (default pool, 10 connections), run_at 30 days ahead";
        } else {
          await preparePgBoss(db.url);
          const boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false, migrate: false });
          boss.on("error", () => undefined);
          await boss.start();
          close = async () => {
            await boss.stop({ graceful: false, wait: true });
            await db.drop();
          };
          call = (i) => boss.send(PGBOSS_QUEUE, { i }, { startAfter: runAt });
          note = "boss.send (default pool, 10 connections), startAfter 30 days ahead";
        }
      }
      const r = await load(call, concurrency, seconds);
      ctx.results.add({
        workload: "api",
        variant: `${concurrency} callers × ${seconds} s`,
        system: system as SystemName,
        figures: { createdPerSec: r.perSec, latencyP50Ms: r.latency.p50, latencyP99Ms: r.latency.p99, latencyMaxMs: r.latency.max, errors: r.errors },
        notes: [note, ...(r.firstError ? [`first error: ${r.firstError}`] : [])],
      });
    } catch (error) {
      ctx.results.add({ workload: "api", variant: `${concurrency} callers × ${seconds} s`, system, figures: {}, notes: [], error: String(error) });
    } finally {
      await close?.();
    }
  }
}
