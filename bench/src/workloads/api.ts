import { makeWorkerUtils } from "graphile-worker";
import { PgBoss } from "pg-boss";
import pg from "pg";
import { createChimeClient } from "@chime/sdk";
import { createJobServiceClient, toStruct } from "../../../server/test/helpers/grpc-client.js";
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

/**
 * The clients the Chime case is measured with, each on its own connection to the same server:
 * the SDK client as a user gets it, the SDK client sending each createJob as its own RPC, and
 * @grpc/grpc-js.
 */
const CHIME_CLIENTS = ["sdk", "sdk-one-rpc-per-call", "grpc-js"] as const;

/** How the note of the SDK client with its defaults begins: the report's headline for the api target. */
export const SDK_DEFAULTS_NOTE = "client: SDK createChimeClient with its defaults";

/**
 * Workload 4: one create/enqueue per call from 64 concurrent callers. Chime is measured with
 * the clients of CHIME_CLIENTS (the SDK's default is the headline, SDK_DEFAULTS_NOTE): the
 * callers share the server's two cores, and the client's own cost per call decides much of
 * what the server is left.
 */
export async function api(ctx: BenchContext): Promise<void> {
  const { apiSeconds: seconds, apiConcurrency: concurrency } = ctx.sizes;
  const runAt = new Date(Date.now() + 30 * 86_400_000);
  const variant = `${concurrency} callers × ${seconds} s`;
  for (const system of ctx.systems) {
    log(`api: ${system}, ${concurrency} callers for ${seconds} s`);
    let close: (() => Promise<void>) | undefined;
    try {
      const calls: { call: (i: number) => Promise<unknown>; note: string }[] = [];
      if (system === "chime") {
        const session = await openChimeSession(ctx, "api");
        const clients = CHIME_CLIENTS.map((kind) => chimeCaller(kind, session.servers[0].grpcUrl, runAt));
        // Each client's payload must reach the server as sent: create one job through it and read it back.
        for (const client of clients) client.note += `; ${await checkPayload(client, session.servers[0].grpcUrl)}`;
        close = async () => {
          for (const client of clients) client.close();
          await session.close();
        };
        calls.push(...clients);
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
          calls.push({ call: (i) => utils.addJob("bench", { i }, { runAt }), note: "WorkerUtils.addJob (default pool, 10 connections), run_at 30 days ahead" });
        } else {
          await preparePgBoss(db.url);
          const boss = new PgBoss({ connectionString: db.url, supervise: false, schedule: false, migrate: false });
          boss.on("error", () => undefined);
          await boss.start();
          close = async () => {
            await boss.stop({ graceful: false });
            await db.drop();
          };
          calls.push({ call: (i) => boss.send(PGBOSS_QUEUE, { i }, { startAfter: runAt }), note: "boss.send (default pool, 10 connections), startAfter 30 days ahead" });
        }
      }
      for (const { call, note } of calls) {
        const r = await load(call, concurrency, seconds);
        ctx.results.add({
          workload: "api",
          variant,
          system: system as SystemName,
          figures: { createdPerSec: r.perSec, latencyP50Ms: r.latency.p50, latencyP99Ms: r.latency.p99, latencyMaxMs: r.latency.max, errors: r.errors },
          notes: [note, ...(r.firstError ? [`first error: ${r.firstError}`] : [])],
        });
      }
    } catch (error) {
      ctx.results.add({ workload: "api", variant, system, figures: {}, notes: [], error: String(error) });
    } finally {
      await close?.();
    }
  }
}

/** A job's id from a CreateJob response of either client. */
function jobIdOf(response: unknown): string {
  const r = response as { id?: string; job?: { id?: string } };
  return r.id ?? r.job?.id ?? "";
}

/**
 * Creates one job through the caller (payload {i: 1e9}) and reads it back with GetJob:
 * "payload checked" when the server stored {i: 12345}; throws otherwise (a client that
 * sends another payload than it was given measures a different call).
 */
async function checkPayload(caller: ChimeCaller, grpcUrl: string): Promise<string> {
  const i = 1_000_000_000; // beyond any index the load reaches, so its name is its own
  const id = jobIdOf(await caller.call(i));
  const job = await createChimeClient({ baseUrl: grpcUrl, timeoutMs: 10_000 }).getJob(id);
  const stored = job.payload ? JSON.stringify(job.payload) : "none";
  if (stored !== JSON.stringify({ i })) throw new Error(`${caller.kind}: CreateJob with payload {"i":${i}} stored ${stored}`);
  return `payload checked (GetJob read it back)`;
}

interface ChimeCaller {
  kind: (typeof CHIME_CLIENTS)[number];
  call: (i: number) => Promise<unknown>;
  note: string;
  close: () => void;
}

/** CreateJob of a one-shot job 30 days ahead through one of Chime's clients (one HTTP/2 connection). */
function chimeCaller(kind: (typeof CHIME_CLIENTS)[number], grpcUrl: string, runAt: Date): ChimeCaller {
  if (kind !== "grpc-js") {
    // The SDK's default sends the createJob calls of one event-loop turn as one BatchCreateJobs.
    const createBatchSize = kind === "sdk" ? undefined : 1;
    const client = createChimeClient({ baseUrl: grpcUrl, timeoutMs: 10_000, createBatchSize });
    return {
      kind,
      call: (i) => client.createJob({ name: `api-${kind}-${i}`, queue: QUEUE, schedule: { at: runAt }, payload: { i } }),
      note:
        kind === "sdk"
          ? `${SDK_DEFAULTS_NOTE} (connect-node gRPC transport; concurrent createJob calls go as BatchCreateJobs calls of up to 32); createJob of a one-shot job 30 days ahead`
          : "client: SDK createChimeClient with createBatchSize 1 (one CreateJob RPC per call); createJob of a one-shot job 30 days ahead",
      close: () => undefined,
    };
  }
  const client = createJobServiceClient(new URL(grpcUrl).host);
  const at = { seconds: String(Math.floor(runAt.getTime() / 1000)), nanos: 0 };
  return {
    kind,
    call: (i) =>
      client.call("CreateJob", { job: { name: `api-grpcjs-${i}`, queue: QUEUE, schedule: { at: { time: at } }, payload: toStruct({ i }) } }, { deadlineMs: 10_000 }),
    note: "client: @grpc/grpc-js with @grpc/proto-loader; CreateJob of a one-shot job 30 days ahead",
    close: () => client.close(),
  };
}
