import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { WatchService } from "@chime/sdk";
import pg from "pg";
import { createChimeJobs, procSample, QUEUE } from "../chime.js";
import { openChimeSession, type ChimeSession } from "../chime-session.js";
import type { BenchContext } from "../config.js";
import { log, nowMs, sleep, sleepUntil, summarize } from "../util.js";
import { everySecondUntil } from "./cron.js";

/** Whether the server serves WatchService.WatchRuns (UNIMPLEMENTED means not built yet). */
async function watchServed(grpcUrl: string): Promise<boolean> {
  const client = createClient(WatchService, createGrpcTransport({ baseUrl: grpcUrl }));
  try {
    for await (const _ of client.watchRuns({ queues: [QUEUE] }, { timeoutMs: 1500 })) break;
    return true;
  } catch (error) {
    const code = ConnectError.from(error).code;
    if (code === Code.Unimplemented) return false;
    return code === Code.DeadlineExceeded || code === Code.Canceled;
  }
}

/**
 * Workload 7 (Chime only): WatchRuns subscribers while every-second cron jobs flow through
 * a Worker. Each subscriber follows two jobs (every event reaches one subscriber) so the
 * client can keep up; latency = receipt − event time. Skipped when WatchService is not
 * served. Not yet run against a real WatchService (it did not exist when this was written).
 */
export async function watch(ctx: BenchContext): Promise<void> {
  if (!ctx.systems.includes("chime")) return;
  const { watchSubscribers: subscribers, watchRate: jobs, watchSeconds: seconds } = ctx.sizes;
  const variant = `${subscribers} subscribers, ${jobs} runs/s`;
  let session: ChimeSession | undefined;
  try {
    session = await openChimeSession(ctx, "watch");
    if (!(await watchServed(session.servers[0].grpcUrl))) {
      log("watch: skipped: WatchService not built");
      ctx.results.skipped.push({ workload: "watch", reason: "skipped: WatchService not built" });
      return;
    }
    log(`watch: ${subscribers} subscribers while ${jobs} runs/s flow for ${seconds} s`);
    const consumer = await session.startConsumer();
    const from = Math.ceil((nowMs() + 4000) / 1000) * 1000;
    const to = from + seconds * 1000;
    await createChimeJobs(session.servers[0].grpcUrl, "w-", 0, jobs, () => everySecondUntil(from, to));
    const db = new pg.Client({ connectionString: session.db.url });
    await db.connect();
    const ids = (await db.query<{ id: string }>("SELECT id FROM jobs WHERE name LIKE 'w-%' ORDER BY name")).rows.map((r) => r.id);
    await db.end();
    const transports = Array.from({ length: 10 }, () => createGrpcTransport({ baseUrl: session!.servers[0].grpcUrl }));
    const abort = new AbortController();
    const latencies: number[] = [];
    let events = 0;
    const perJob = Math.max(1, Math.ceil(ids.length / subscribers));
    const streams = Array.from({ length: subscribers }, async (_, i) => {
      const client = createClient(WatchService, transports[i % transports.length]);
      const jobIds = ids.slice(i * perJob, (i + 1) * perJob);
      try {
        for await (const response of client.watchRuns({ jobIds }, { signal: abort.signal })) {
          if (response.kind.case !== "event" || !response.kind.value.time) continue;
          events++;
          latencies.push(nowMs() - timestampDate(response.kind.value.time).getTime());
        }
      } catch {
        // Aborted at the end.
      }
    });
    const before = procSample(session.servers[0].pid);
    await sleepUntil(to);
    const during = procSample(session.servers[0].pid);
    // Events still in flight: wait until none arrive for 2 s (at most 20 s).
    for (let last = -1, quietSince = nowMs(); nowMs() - quietSince < 2000 && nowMs() < to + 20_000; await sleep(250)) {
      if (events !== last) {
        last = events;
        quietSince = nowMs();
      }
    }
    abort.abort();
    await Promise.allSettled(streams);
    const lat = summarize(latencies);
    ctx.results.add({
      workload: "watch",
      variant,
      system: "chime",
      figures: {
        events,
        expectedEvents: jobs * seconds * 3,
        eventsPerSec: events / seconds,
        latencyP50Ms: lat.p50,
        latencyP99Ms: lat.p99,
        latencyMaxMs: lat.max,
        serverRssBeforeMB: before.rssBytes / 2 ** 20,
        serverRssDuringMB: during.rssBytes / 2 ** 20,
      },
      notes: [consumer.description, `${perJob} job(s) per subscriber over 10 HTTP/2 connections; expected = runs × 3 (QUEUED, RUNNING, SUCCEEDED)`],
    });
  } catch (error) {
    ctx.results.add({ workload: "watch", variant, system: "chime", figures: {}, notes: [], error: String(error) });
  } finally {
    await session?.close();
  }
}
