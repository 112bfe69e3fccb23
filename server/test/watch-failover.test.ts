import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChimeClient, RunState, Worker, type RunEvent, type WatchJobMessage } from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { readMetric } from "./helpers/metrics.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Two server processes share a database and NATS prefix. A subscriber (the SDK iterator,
 * given both addresses) is connected to one of them when it is killed with SIGKILL while
 * ~1,000 runs are in flight through a real SDK Worker (QUEUED → RUNNING → SUCCEEDED). The
 * iterator reconnects to the other replica with its last token and, compared with
 * run_events, sees every event exactly once and in order.
 */

const RUNS = 1000;
const JOBS = 20;

let db: TestDatabase;
let prefix: string;
let pool: pg.Pool;
let worker: Worker | undefined;
const servers: ServerProcess[] = [];

async function startServer(id: string): Promise<ServerProcess> {
  const server = await startServerProcess(id, {
    DATABASE_URL: db.url,
    NATS_URL: TEST_NATS_URL,
    CHIME_NATS_PREFIX: prefix,
    CHIME_ROLES: "api,scheduler,ingest",
    CHIME_WATCH_KEEPALIVE_MS: "1000",
  });
  servers.push(server);
  return server;
}

const metric = (server: ServerProcess, name: string) => readMetric(server.httpUrl, name);

beforeAll(async () => {
  db = await createTestDatabase();
  prefix = testNatsPrefix();
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
});

afterAll(async () => {
  await worker?.stop();
  await Promise.all(servers.map((s) => s.kill("SIGKILL")));
  await pool?.end();
  await deleteNatsPrefix(prefix);
  await db?.drop();
});

describe("watch failover", () => {
  it("SIGKILL of the subscriber's replica under ~1,000 runs in flight: the SDK iterator moves to the other replica and misses nothing, repeats nothing", async () => {
    const [a, b] = await Promise.all([startServer("watch-a"), startServer("watch-b")]);
    const viaB = createChimeClient({ baseUrl: b.grpcUrl });
    const jobs = await Promise.all(
      Array.from({ length: JOBS }, (_, i) => viaB.createJob({ name: `flow-${i}`, queue: "flow", schedule: { at: new Date(Date.now() + 86_400_000) } })),
    );
    worker = new Worker({
      natsUrl: TEST_NATS_URL,
      prefix,
      queue: "flow",
      concurrency: 64,
      handler: async () => {
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 30));
        return { done: true };
      },
    });
    await worker.start();

    // The subscriber: given both replicas, it starts on a (the first address).
    const received: RunEvent[] = [];
    const reconnects: Array<{ code: Code | undefined; baseUrl?: string }> = [];
    const controller = new AbortController();
    const subscriber = viaB.watchRuns(
      { queues: ["flow"] },
      {
        baseUrls: [a.grpcUrl, b.grpcUrl],
        signal: controller.signal,
        retryDelayMs: 50,
        onReconnect: ({ error, baseUrl }) => reconnects.push({ code: error instanceof ConnectError ? error.code : undefined, baseUrl }),
      },
    );
    const consuming = (async () => {
      for await (const event of subscriber) received.push(event);
    })();
    await waitFor("the subscriber on replica a", async () => (await metric(a, "chime_watch_subscribers")) === 1);
    expect(await metric(b, "chime_watch_subscribers")).toBe(0);

    // ~1,000 runs: triggered through b in waves; a is killed while they flow.
    let triggered = 0;
    let killedAt = 0;
    let eventsBeforeKill = 0;
    const triggering = (async () => {
      while (triggered < RUNS) {
        const wave = Math.min(100, RUNS - triggered);
        await Promise.all(Array.from({ length: wave }, (_, k) => viaB.triggerJob(jobs[(triggered + k) % JOBS].id)));
        triggered += wave;
        if (triggered === 500) {
          eventsBeforeKill = received.length;
          killedAt = Date.now();
          await a.kill("SIGKILL");
        }
      }
    })();
    await triggering;
    const inFlightAtKill = await pool.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM runs WHERE queue = 'flow' AND (end_time IS NULL OR end_time > $1)",
      [new Date(killedAt)],
    );
    // a's unacknowledged status messages come back to b after the ingest consumer's ack wait (30 s).
    await waitFor("every run to succeed", async () => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE queue = 'flow' AND state = $1", [RunState.SUCCEEDED]);
      return rows[0].n === RUNS;
    }, { timeoutMs: 90_000, intervalMs: 500 });
    const { rows: expected } = await pool.query<{ cursor: number; run_id: string; state: number; attempt: number }>(
      "SELECT e.cursor, e.run_id, e.state, e.attempt FROM run_event_log e JOIN runs r ON r.id = e.run_id WHERE r.queue = 'flow' ORDER BY e.cursor",
    );
    await waitFor("the subscriber to receive every event", () => received.length >= expected.length, { timeoutMs: 15_000 });
    await new Promise((resolve) => setTimeout(resolve, 500));
    controller.abort();
    await consuming;

    const key = (e: { runId?: string; run_id?: string; state: number; attempt: number }) => `${e.runId ?? e.run_id}/${e.state}/${e.attempt}`;
    const keys = received.map(key);
    expect(new Set(keys).size).toBe(keys.length); // nothing twice
    expect(keys).toEqual(expected.map(key)); // nothing missing, same order
    // Per run: QUEUED, RUNNING, SUCCEEDED (attempt 1, unless a retry happened: still ordered).
    const perRun = new Map<string, number[]>();
    for (const e of received) perRun.set(e.runId, [...(perRun.get(e.runId) ?? []), e.state]);
    expect(perRun.size).toBe(RUNS);
    for (const states of perRun.values()) {
      expect(states[0]).toBe(RunState.QUEUED);
      expect(states[states.length - 1]).toBe(RunState.SUCCEEDED);
    }
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0].baseUrl).toBe(b.grpcUrl);
    await waitFor("the stream on b to be gone", async () => (await metric(b, "chime_watch_subscribers")) === 0, { timeoutMs: 5000 });
    console.log(
      `watch failover: ${RUNS} runs, ${expected.length} events; replica a SIGKILLed after ${eventsBeforeKill} events received ` +
        `with ${inFlightAtKill.rows[0].n} runs not yet ended; ${reconnects.length} reconnect(s) (${reconnects.map((r) => (r.code !== undefined ? Code[r.code] : "?")).join(", ")}); ` +
        `every event received exactly once, in cursor order`,
    );
  });
  it("SIGKILL of a WatchJob subscriber's replica: the SDK iterator resumes on the other replica after its last message, with no second snapshot, nothing missed or repeated", async () => {
    const [c, d] = await Promise.all([startServer("watch-c"), startServer("watch-d")]);
    const viaD = createChimeClient({ baseUrl: d.grpcUrl });
    // Nobody takes queue "idle": every run triggered stays QUEUED, one run event each.
    const job = await viaD.createJob({ name: "followed", queue: "idle", schedule: { at: new Date(Date.now() + 86_400_000) } });
    const received: WatchJobMessage[] = [];
    const reconnects: string[] = [];
    const consuming = (async () => {
      const messages = viaD.watchJob(job.id, { baseUrls: [c.grpcUrl, d.grpcUrl], retryDelayMs: 50, onReconnect: ({ resumeToken }) => reconnects.push(resumeToken) });
      for await (const message of messages) received.push(message);
    })();
    await waitFor("the subscriber on replica c", async () => (await metric(c, "chime_watch_subscribers")) === 1);
    const runIds: string[] = [];
    for (let i = 0; i < 100; i++) {
      if (i === 50) {
        await waitFor("the first half received", () => received.length >= 51);
        await c.kill("SIGKILL");
      }
      runIds.push((await viaD.triggerJob(job.id)).id);
    }
    await viaD.deleteJob(job.id);
    await consuming; // ends after the deletion
    expect(received.filter((m) => m.kind === "snapshot")).toHaveLength(1);
    const queued = received.filter((m) => m.kind === "runEvent" && m.event.state === RunState.QUEUED).map((m) => (m.kind === "runEvent" ? m.event.runId : ""));
    expect(queued).toEqual(runIds);
    expect(received.at(-1)?.kind).toBe("jobChange");
    expect(reconnects.length).toBeGreaterThanOrEqual(1);
    expect(reconnects[0]).not.toBe("");
  });
});
