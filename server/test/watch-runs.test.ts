import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import {
  createChimeClient,
  JobChangeKind,
  JobState,
  natsLayout,
  RunState,
  WatchService,
  Worker,
  type ChimeClient,
  type RunEvent,
  type WatchJobMessage,
} from "@chime/sdk";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * WatchRuns and WatchJob against one in-process server (real Postgres and NATS, a real
 * SDK Worker moving runs through RUNNING → SUCCEEDED): exactly-once delivery checked
 * against run_events, resume seams, token errors, the commit-order horizon, filters,
 * keepalives, WatchJob, cleanup of cancelled streams, Connect over HTTP/1.1, shutdown.
 */

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

let server: TestServer;
let chime: ChimeClient;
let pool: pg.Pool;
let worker: Worker;
const FAST_KEEPALIVE_MS = 300;

beforeAll(async () => {
  server = await startTestServer({ CHIME_WATCH_KEEPALIVE_MS: String(FAST_KEEPALIVE_MS), CHIME_ROLES: "api,scheduler,ingest" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  pool = new pg.Pool({ connectionString: server.db.url, max: 4 });
  worker = new Worker({
    natsUrl: TEST_NATS_URL,
    prefix: server.config.natsPrefix,
    queue: "work",
    concurrency: 16,
    handler: async (run) => ({ ok: true, job: run.jobName }),
  });
  await worker.start();
});

afterAll(async () => {
  await worker?.stop();
  await pool?.end();
  await server?.close();
});

interface EventRow {
  cursor: number;
  run_id: string;
  state: number;
  attempt: number;
}

async function eventsOf(jobIds: string[], afterCursor = 0): Promise<EventRow[]> {
  const { rows } = await pool.query<EventRow>(
    "SELECT cursor, run_id, state, attempt FROM run_event_log WHERE job_id = ANY($1::uuid[]) AND cursor > $2 ORDER BY cursor",
    [jobIds, afterCursor],
  );
  return rows;
}

/** Collects events from an iterator in the background until stopped. */
function collect(iterable: AsyncIterable<RunEvent>) {
  const events: RunEvent[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const event of iterable) events.push(event);
    } catch (e) {
      error = e;
    }
  })();
  return { events, done, error: () => error };
}

function key(e: { runId?: string; run_id?: string; state: number; attempt: number }): string {
  return `${e.runId ?? e.run_id}/${e.state}/${e.attempt}`;
}

async function createJobs(count: number, prefix: string, extra: Partial<Parameters<ChimeClient["createJob"]>[0]> = {}) {
  const jobs = [];
  for (let i = 0; i < count; i++) {
    jobs.push(await chime.createJob({ name: `${prefix}-${i}`, queue: "work", schedule: { at: new Date(Date.now() + 86_400_000) }, ...extra }));
  }
  return jobs;
}

describe("WatchRuns", () => {
  it("delivers every state change exactly once, in cursor order, as run_events has them", async () => {
    const controller = new AbortController();
    const jobs = await createJobs(5, "once");
    const jobIds = jobs.map((j) => j.id);
    // Subscribe first (live from now), then make runs flow.
    const watch = collect(chime.watchRuns({ jobIds }, { signal: controller.signal }));
    await waitFor("the stream to be registered", () => server.watch!.stats().subscribers === 1);
    const runs = [];
    for (let round = 0; round < 20; round++) runs.push(...(await Promise.all(jobIds.map((id) => chime.triggerJob(id)))));
    await waitFor("every run to succeed", async () => {
      const { rows } = await pool.query<{ n: number }>("SELECT count(*)::int AS n FROM runs WHERE job_id = ANY($1::uuid[]) AND state = $2", [jobIds, RunState.SUCCEEDED]);
      return rows[0].n === runs.length;
    }, { timeoutMs: 30_000 });
    const expected = await eventsOf(jobIds);
    expect(expected.length).toBe(runs.length * 3); // QUEUED, RUNNING, SUCCEEDED
    await waitFor("every event to arrive", () => watch.events.length >= expected.length, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 200));
    controller.abort();
    await watch.done;
    expect(watch.error()).toBeUndefined();
    expect(watch.events.map(key)).toEqual(expected.map(key));
    // Per run: QUEUED → RUNNING → SUCCEEDED, and the output excerpt on SUCCEEDED.
    const succeeded = watch.events.filter((e) => e.state === RunState.SUCCEEDED);
    expect(succeeded.every((e) => JSON.parse(e.outputExcerpt).ok === true && e.queue === "work")).toBe(true);
    await waitFor("the stream to be unregistered", () => server.watch!.stats().subscribers === 0);
  });

  it("resumes from any token with no gap and no duplicate at the replay/live seam", async () => {
    const jobs = await createJobs(3, "resume");
    const jobIds = jobs.map((j) => j.id);
    const firstController = new AbortController();
    const first = collect(chime.watchRuns({ jobIds }, { signal: firstController.signal }));
    await waitFor("registered", () => server.watch!.stats().subscribers >= 1);
    for (let i = 0; i < 10; i++) await Promise.all(jobIds.map((id) => chime.triggerJob(id)));
    const all = await waitFor("30 runs done", async () => {
      const rows = await eventsOf(jobIds);
      return rows.filter((r) => r.state === RunState.SUCCEEDED).length === 30 ? rows : undefined;
    }, { timeoutMs: 30_000 });
    await waitFor("all events", () => first.events.length >= all.length);
    // Resume from several points while new runs keep arriving: the replayed part and the
    // live part together must be exactly the rest.
    const triggering = (async () => {
      for (let i = 0; i < 10; i++) {
        await Promise.all(jobIds.map((id) => chime.triggerJob(id)));
        await new Promise((resolve) => setTimeout(resolve, 30));
      }
    })();
    const points = [0, 1, 17, 45, first.events.length - 1];
    const resumed = await Promise.all(
      points.map(async (index) => {
        const controller = new AbortController();
        const from = first.events[index];
        const watch = collect(chime.watchRuns({ jobIds }, { resumeToken: from.resumeToken, signal: controller.signal }));
        return { from, controller, watch };
      }),
    );
    await triggering;
    const total = await waitFor("60 runs done", async () => {
      const rows = await eventsOf(jobIds);
      return rows.filter((r) => r.state === RunState.SUCCEEDED).length === 60 ? rows : undefined;
    }, { timeoutMs: 30_000 });
    for (const { from, controller, watch } of resumed) {
      const fromCursor = all.find((r) => key(r) === key(from))!.cursor;
      const expected = total.filter((r) => r.cursor > fromCursor);
      await waitFor("the resumed stream to catch up", () => watch.events.length >= expected.length);
      await new Promise((resolve) => setTimeout(resolve, 100));
      controller.abort();
      await watch.done;
      expect(watch.events.map(key)).toEqual(expected.map(key));
    }
    await waitFor("the first stream to have them all", () => first.events.length >= total.length);
    firstController.abort();
    await first.done;
    expect(first.events.map(key)).toEqual(total.map(key));
  });

  it("refuses malformed tokens (INVALID_ARGUMENT) and tokens out of range (OUT_OF_RANGE)", async () => {
    const raw = createClient(WatchService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const firstError = async (request: Parameters<typeof raw.watchRuns>[0]) => {
      try {
        for await (const message of raw.watchRuns(request, { timeoutMs: 5000 })) void message;
      } catch (error) {
        return ConnectError.from(error);
      }
      throw new Error("the stream ended without an error");
    };
    const malformed = await firstError({ resumeToken: "not-a-token" });
    expect(malformed.code).toBe(Code.InvalidArgument);
    expect(malformed.rawMessage).toMatch(/^resume_token: /);
    const badFilter = await firstError({ jobIds: ["nope"], states: [99 as RunState], labelSelector: "a=b,=x" });
    expect(badFilter.code).toBe(Code.InvalidArgument);
    expect(badFilter.rawMessage).toMatch(/job_ids: .*states: unknown value 99.*label_selector: /);

    // A token from the future (another database) and one older than what is kept.
    const jobs = await createJobs(1, "range");
    const rangeController = new AbortController();
    const watch = collect(chime.watchRuns({ jobIds: [jobs[0].id] }, { signal: rangeController.signal }));
    await waitFor("registered", () => server.watch!.stats().subscribers >= 1);
    await chime.triggerJob(jobs[0].id);
    await waitFor("an event", () => watch.events.length >= 1);
    rangeController.abort();
    const { resumeToken } = watch.events[0];
    const { encodeResumeToken, decodeResumeToken } = await import("../src/watch/resume-token.js");
    const future = await firstError({ resumeToken: encodeResumeToken(decodeResumeToken(resumeToken) + 1_000_000) });
    expect(future.code).toBe(Code.OutOfRange);
    await pool.query("UPDATE event_retention SET pruned_through = $1", [decodeResumeToken(resumeToken) + 1]);
    try {
      const old = await firstError({ resumeToken });
      expect(old.code).toBe(Code.OutOfRange);
      expect(old.rawMessage).toMatch(/resume_token: events after it were deleted/);
      // The SDK iterator gives up on it too, instead of reconnecting forever.
      await expect(async () => {
        for await (const e of chime.watchRuns({}, { resumeToken })) void e;
      }).rejects.toMatchObject({ code: Code.OutOfRange });
    } finally {
      await pool.query("UPDATE event_retention SET pruned_through = 0");
    }
  });

  it("holds live events back while an earlier cursor is uncommitted, then sends both in order; rolled-back cursors do not stall", async () => {
    const [job] = await createJobs(1, "horizon");
    const run = await chime.triggerJob(job.id);
    const controller = new AbortController();
    const watch = collect(chime.watchRuns({ jobIds: [job.id], states: [RunState.RETRY_WAIT, RunState.FAILED] }, { signal: controller.signal }));
    await waitFor("registered", () => server.watch!.stats().subscribers >= 1);
    const insert = "INSERT INTO run_events (run_id, job_id, state, attempt) VALUES ($1, $2, $3, $4) RETURNING cursor";
    const slow = await pool.connect();
    const fast = await pool.connect();
    try {
      // A rolled-back insert leaves a gap that must not block anything.
      await fast.query("BEGIN");
      await fast.query(insert, [run.id, job.id, RunState.FAILED, 98]);
      await fast.query("ROLLBACK");
      // The slow transaction takes cursor N first and commits last.
      await slow.query("BEGIN");
      const n = (await slow.query<{ cursor: number }>(insert, [run.id, job.id, RunState.RETRY_WAIT, 99])).rows[0].cursor;
      const m = (await fast.query<{ cursor: number }>(insert, [run.id, job.id, RunState.FAILED, 100])).rows[0].cursor;
      expect(m).toBeGreaterThan(n);
      await new Promise((resolve) => setTimeout(resolve, 600));
      // N+1 is committed and visible, but N may still commit: nothing may be sent yet.
      expect(watch.events.map((e) => e.attempt)).toEqual([]);
      await slow.query("COMMIT");
      await waitFor("both events", () => watch.events.length >= 2, { timeoutMs: 5000 });
      expect(watch.events.map((e) => e.attempt)).toEqual([99, 100]);
    } finally {
      await slow.query("ROLLBACK").catch(() => undefined);
      slow.release();
      fast.release();
      controller.abort();
      await watch.done;
    }
  });

  it("filters by queue, state, label selector and namespace, live and on replay", async () => {
    const a = await chime.createJob({ name: "f-a", queue: "work", namespace: "ns-a", labels: { env: "prod", team: "x" }, schedule: { at: new Date(Date.now() + 86_400_000) } });
    const b = await chime.createJob({ name: "f-b", queue: "other", namespace: "ns-a", labels: { env: "dev" }, schedule: { at: new Date(Date.now() + 86_400_000) } });
    const c = await chime.createJob({ name: "f-c", queue: "work", namespace: "ns-c", labels: { env: "prod" }, schedule: { at: new Date(Date.now() + 86_400_000) } });
    const controller = new AbortController();
    const filters = {
      prodInA: { namespace: "ns-a", labelSelector: "env=prod" },
      otherQueue: { queues: ["other"] },
      queuedOnly: { states: [RunState.QUEUED], labelSelector: "env,!team" },
      notProd: { labelSelector: "env!=prod" },
    };
    const watches = Object.fromEntries(Object.entries(filters).map(([name, f]) => [name, collect(chime.watchRuns(f, { signal: controller.signal }))]));
    await waitFor("registered", () => server.watch!.stats().subscribers >= 4);
    const before = (await pool.query<{ c: number }>("SELECT coalesce(max(cursor), 0)::bigint AS c FROM run_event_log")).rows[0].c;
    for (const job of [a, b, c]) await chime.triggerJob(job.id);
    await waitFor("a's run done", async () => (await eventsOf([a.id], Number(before))).length === 3, { timeoutMs: 30_000 });
    // b (queue "other") has no worker: it stays QUEUED; c's run goes through.
    await waitFor("c's run done", async () => (await eventsOf([c.id], Number(before))).length === 3, { timeoutMs: 30_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    controller.abort();
    const names = (events: RunEvent[]) => events.map((e) => `${e.jobId === a.id ? "a" : e.jobId === b.id ? "b" : "c"}:${RunState[e.state]}`);
    expect(names(watches.prodInA.events)).toEqual(["a:QUEUED", "a:RUNNING", "a:SUCCEEDED"]);
    expect(names(watches.otherQueue.events)).toEqual(["b:QUEUED"]);
    expect(names(watches.queuedOnly.events).sort()).toEqual(["b:QUEUED", "c:QUEUED"]);
    expect(names(watches.notProd.events)).toEqual(["b:QUEUED"]);
    await Promise.all(Object.values(watches).map((w) => w.done));
    // The same filter replayed from a token gives the same events.
    const token = watches.prodInA.events[0].resumeToken;
    const replayed = collect(chime.watchRuns({ ...filters.queuedOnly }, { resumeToken: token, signal: AbortSignal.timeout(1500) }));
    await replayed.done;
    await waitFor("unregistered", () => server.watch!.stats().subscribers === 0);
    expect(names(replayed.events).sort()).toEqual(["b:QUEUED", "c:QUEUED"]);
  });

  it("sends keepalives on an idle stream, whose token skips what the filter did not match", async () => {
    const raw = createClient(WatchService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const controller = new AbortController();
    const started = Date.now();
    const keepalives: number[] = [];
    let token = "";
    for await (const message of raw.watchRuns({ queues: ["nothing-here"] }, { signal: controller.signal, timeoutMs: 0 })) {
      expect(message.kind.case).toBe("keepalive");
      if (message.kind.case === "keepalive") token = message.kind.value.resumeToken;
      keepalives.push(Date.now() - started);
      if (keepalives.length === 3) break;
    }
    // Leaving the loop does not cancel a connect-es call by itself: abort it (the SDK does).
    controller.abort();
    expect(keepalives[0]).toBeGreaterThanOrEqual(FAST_KEEPALIVE_MS - 50);
    expect(keepalives[2]).toBeLessThan(FAST_KEEPALIVE_MS * 3 + 2000);
    const { decodeResumeToken } = await import("../src/watch/resume-token.js");
    expect(decodeResumeToken(token)).toBeGreaterThanOrEqual(0);
    await waitFor("unregistered", () => server.watch!.stats().subscribers === 0);
  });
});

describe("WatchJob", () => {
  it("starts with a snapshot of the job and its active runs, then its changes and run events, and ends after deletion", async () => {
    const job = await chime.createJob({ name: "wj", queue: "nobody", schedule: { at: new Date(Date.now() + 86_400_000) } });
    const queued = await chime.triggerJob(job.id);
    const messages: WatchJobMessage[] = [];
    const done = (async () => {
      for await (const message of chime.watchJob(job.id, { signal: AbortSignal.timeout(30_000) })) messages.push(message);
    })();
    await waitFor("the snapshot", () => messages.length >= 1);
    expect(messages[0].kind).toBe("snapshot");
    const snapshot = messages[0].kind === "snapshot" ? messages[0].snapshot : undefined;
    expect(snapshot?.job?.id).toBe(job.id);
    expect(snapshot?.activeRuns.map((r) => r.id)).toEqual([queued.id]);

    await chime.pauseJob(job.id);
    await chime.resumeJob(job.id);
    await chime.updateJob(job.id, { labels: { changed: "yes" } });
    const second = await chime.triggerJob(job.id);
    await chime.cancelRun(second.id);
    await chime.deleteJob(job.id);
    await done;
    const seen = messages.slice(1).map((m) =>
      m.kind === "jobChange" ? `job:${JobChangeKind[m.change.kind]}` : m.kind === "runEvent" ? `${m.event.runId === queued.id ? "r1" : "r2"}:${RunState[m.event.state]}` : m.kind,
    );
    expect(seen).toEqual(["job:PAUSED", "job:RESUMED", "job:UPDATED", "r2:QUEUED", "r2:CANCELLED", "r1:CANCELLED", "job:DELETED"]);
    const updated = messages.find((m) => m.kind === "jobChange" && m.change.kind === JobChangeKind.UPDATED);
    expect(updated?.kind === "jobChange" && updated.change.job?.labels).toEqual({ changed: "yes" });
    await waitFor("unregistered", () => server.watch!.stats().subscribers === 0);
  });

  it("sees a one-off job's run queued, then the job COMPLETED; a recurring job that fires has no job change", async () => {
    const due = new Date(Date.now() + 1500);
    const [once, recurring] = await Promise.all([
      chime.createJob({ name: "wj-once", queue: "nobody", schedule: { at: due } }),
      chime.createJob({ name: "wj-every", queue: "nobody", schedule: { every: "1s" } }),
    ]);
    const watch = async (id: string, until: (m: WatchJobMessage[]) => boolean) => {
      const messages: WatchJobMessage[] = [];
      const controller = new AbortController();
      const done = (async () => {
        for await (const message of chime.watchJob(id, { signal: controller.signal })) {
          messages.push(message);
          if (until(messages)) controller.abort();
        }
      })().catch(() => undefined);
      return { messages, done };
    };
    const onceWatch = await watch(once.id, (m) => m.some((x) => x.kind === "jobChange"));
    const recurringWatch = await watch(recurring.id, (m) => m.filter((x) => x.kind === "runEvent").length >= 2);
    await Promise.all([onceWatch.done, recurringWatch.done]);
    const kinds = (messages: WatchJobMessage[]) =>
      messages.map((m) => (m.kind === "jobChange" ? `job:${JobChangeKind[m.change.kind]}` : m.kind === "runEvent" ? `run:${RunState[m.event.state]}` : m.kind));
    expect(kinds(onceWatch.messages)).toEqual(["snapshot", "run:QUEUED", "job:COMPLETED"]);
    const completed = onceWatch.messages.at(-1);
    expect(completed?.kind === "jobChange" && completed.change.job?.state).toBe(JobState.COMPLETED);
    expect(kinds(recurringWatch.messages)).toEqual(["snapshot", "run:QUEUED", "run:QUEUED"]);
    const { rows } = await pool.query<{ job_id: string; kind: number }>("SELECT job_id, kind FROM job_event_log WHERE job_id = ANY($1::uuid[])", [[once.id, recurring.id]]);
    expect(rows).toEqual([{ job_id: once.id, kind: JobChangeKind.COMPLETED }]);
    await chime.deleteJob(recurring.id);
  });

  it("resumes after any message's token with the job's changes, run events and schedule events after it: no gap, no duplicate, no snapshot", async () => {
    // Overlap SKIP on a queue nobody takes: the first run stays QUEUED, so each later second
    // records a schedule event (OVERLAP_SKIPPED) among the job's own changes and run events.
    const job = await chime.createJob({ name: "wj-resume", queue: "nobody", schedule: { cron: "* * * * * *" }, overlap: "skip" });
    const tokenOf = (m: WatchJobMessage) => (m.kind === "snapshot" ? "" : m.kind === "jobChange" ? m.change.resumeToken : m.event.resumeToken);
    const keyOf = (m: WatchJobMessage) => `${m.kind}:${tokenOf(m)}`;
    const first: WatchJobMessage[] = [];
    const firstDone = (async () => {
      for await (const message of chime.watchJob(job.id, { signal: AbortSignal.timeout(30_000) })) first.push(message);
    })();
    await waitFor("two schedule events", () => first.filter((m) => m.kind === "scheduleEvent").length >= 2, { timeoutMs: 10_000 });
    await chime.updateJob(job.id, { labels: { step: "1" } });
    await waitFor("a third schedule event", () => first.filter((m) => m.kind === "scheduleEvent").length >= 3, { timeoutMs: 10_000 });
    await chime.pauseJob(job.id);
    await chime.deleteJob(job.id);
    await firstDone;
    expect(first[0].kind).toBe("snapshot");
    const kinds = new Set(first.map((m) => m.kind));
    expect(kinds).toEqual(new Set(["snapshot", "runEvent", "scheduleEvent", "jobChange"]));

    // From each message's token (the deletion's excepted), a new stream sends exactly the rest.
    for (let i = 1; i < first.length - 1; i++) {
      const rest: WatchJobMessage[] = [];
      for await (const message of chime.watchJob(job.id, { resumeToken: tokenOf(first[i]), signal: AbortSignal.timeout(10_000) })) rest.push(message);
      expect({ from: i, rest: rest.map(keyOf) }).toEqual({ from: i, rest: first.slice(i + 1).map(keyOf) });
    }
    // After the deletion there is nothing to follow.
    await expect(async () => {
      for await (const m of chime.watchJob(job.id, { resumeToken: tokenOf(first.at(-1)!) })) void m;
    }).rejects.toMatchObject({ code: Code.NotFound });
  });

  it("is NOT_FOUND for an unknown job", async () => {
    await expect(async () => {
      for await (const m of chime.watchJob("0190b5d2-3f47-7000-8000-000000000000")) void m;
    }).rejects.toMatchObject({ code: Code.NotFound });
  });
});

describe("stream lifecycle", () => {
  async function consumerCount(): Promise<number> {
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      const layout = natsLayout(server.config.natsPrefix);
      let total = 0;
      for (const stream of [layout.runsStream, layout.eventsStream]) total += (await jsm.streams.info(stream)).state.consumer_count;
      return total;
    } finally {
      await nc.close();
    }
  }

  it("cancelled client streams leave no subscriber registered and add no NATS consumer (gRPC and Connect)", async () => {
    const consumersBefore = await consumerCount();
    expect(server.watch!.stats().subscribers).toBe(0);
    const grpc = createClient(WatchService, createGrpcTransport({ baseUrl: server.grpcUrl }));
    const connectHttp1 = createClient(WatchService, createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }));
    const controllers: AbortController[] = [];
    const streams: Promise<unknown>[] = [];
    const [job] = await createJobs(1, "lifecycle");
    for (let i = 0; i < 60; i++) {
      const controller = new AbortController();
      controllers.push(controller);
      const client = i % 2 ? grpc : connectHttp1;
      const call = i % 3 === 0 ? client.watchJob({ id: job.id }, { signal: controller.signal }) : client.watchRuns({ queues: [`q${i}`] }, { signal: controller.signal });
      streams.push((async () => {
        for await (const m of call as AsyncIterable<unknown>) void m;
      })().catch(() => undefined));
    }
    await waitFor("60 streams registered", () => server.watch!.stats().subscribers === 60);
    expect(await consumerCount()).toBe(consumersBefore);
    for (const c of controllers) c.abort();
    await Promise.all(streams);
    await waitFor("every stream unregistered", () => server.watch!.stats().subscribers === 0, { timeoutMs: 5000 });
    expect(server.watch!.stats().bufferedEvents).toBe(0);
    expect(await consumerCount()).toBe(consumersBefore);
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toMatch(/^chime_watch_subscribers 0$/m);
  });

  it("works through Connect over HTTP/1.1 (server streaming), with the same events as gRPC", async () => {
    const [job] = await createJobs(1, "http1");
    const http1 = createChimeClient({ baseUrl: server.httpUrl, transport: createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1" }) });
    const controller = new AbortController();
    const viaHttp1 = collect(http1.watchRuns({ jobIds: [job.id] }, { signal: controller.signal }));
    const viaGrpc = collect(chime.watchRuns({ jobIds: [job.id] }, { signal: controller.signal }));
    await waitFor("registered", () => server.watch!.stats().subscribers >= 2);
    await chime.triggerJob(job.id);
    await chime.triggerJob(job.id);
    await waitFor("six events each", () => viaHttp1.events.length >= 6 && viaGrpc.events.length >= 6, { timeoutMs: 30_000 });
    controller.abort();
    await Promise.all([viaHttp1.done, viaGrpc.done]);
    expect(viaHttp1.events.map(key)).toEqual(viaGrpc.events.map(key));
    expect(viaHttp1.events.map((e) => e.resumeToken)).toEqual(viaGrpc.events.map((e) => e.resumeToken));
  });

  it("streams through buf curl over Connect on the HTTP/1.1 port (schema from proto/)", async () => {
    const [job] = await createJobs(1, "bufcurl");
    const run = await chime.triggerJob(job.id);
    const { decodeResumeToken, encodeResumeToken } = await import("../src/watch/resume-token.js");
    // Resume from just before the run's QUEUED event: buf curl prints it, then keepalives until its timeout.
    const { rows } = await pool.query<{ cursor: number }>("SELECT cursor FROM run_event_log WHERE run_id = $1 ORDER BY cursor LIMIT 1", [run.id]);
    const token = encodeResumeToken(Number(rows[0].cursor) - 1);
    expect(decodeResumeToken(token)).toBe(Number(rows[0].cursor) - 1);
    const result = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve, reject) => {
      execFile(
        BUF,
        ["curl", "--schema", "proto", "--protocol", "connect", "--timeout", "1.5s", "-d", JSON.stringify({ job_ids: [job.id], resume_token: token }), `${server.httpUrl}/chime.v1.WatchService/WatchRuns`],
        { cwd: ROOT, timeout: 30_000 },
        (error, stdout, stderr) => {
          if (error && typeof error.code !== "number") return reject(error);
          resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
        },
      );
    });
    // One JSON object per message: the event first, then keepalives; the timeout ends it.
    expect(result.stdout).toContain(`"runId": "${run.id}"`);
    expect(result.stdout).toContain('"state": "RUN_STATE_QUEUED"');
    expect(result.stdout).toContain('"keepalive"');
    expect(result.stderr).toMatch(/deadline_exceeded/);
  });

  it("server shutdown ends open streams with UNAVAILABLE (resumable)", async () => {
    const own = await startTestServer({ CHIME_ROLES: "api", CHIME_SHUTDOWN_GRACE_MS: "3000" });
    try {
      const raw = createClient(WatchService, createGrpcTransport({ baseUrl: own.grpcUrl }));
      const ended = (async () => {
        try {
          for await (const m of raw.watchRuns({}, { timeoutMs: 0 })) void m;
          return "clean end";
        } catch (error) {
          return ConnectError.from(error);
        }
      })();
      await waitFor("registered", () => own.watch!.stats().subscribers === 1);
      const stopping = Date.now();
      await own.stop();
      const outcome = await ended;
      expect(Date.now() - stopping).toBeLessThan(2500);
      expect(outcome).toBeInstanceOf(ConnectError);
      expect((outcome as ConnectError).code).toBe(Code.Unavailable);
      expect(own.watch!.stats().subscribers).toBe(0);
    } finally {
      await own.close();
    }
  });
});
