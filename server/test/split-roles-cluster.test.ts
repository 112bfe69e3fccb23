import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { createChimeClient, RunState, Worker } from "@chime/sdk";
import { startNatsCluster } from "./helpers/nats-cluster.js";
import { startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { startHttpTarget, type HttpTarget } from "./helpers/worker-http-target.js";
import { waitFor } from "./helpers/wait.js";

/**
 * The deployment of docs/deployment.md, on one machine: a 3-node JetStream cluster (every stream
 * and bucket replicated three times) and Chime split by role into six processes (two api, two
 * scheduler, one ingest, one executor running the built-in http job type against a local
 * target), plus two SDK Workers. Per-second crons and one-offs run through the loss, at the same
 * moment, of one NATS node and of one process of each role (kill -9); the lone ingest and
 * executor come back as new processes. Every run must end, none may be lost or run twice, and no
 * cron second may go without its run (the crons are RUN_ALL: a fire the failover delays past the
 * misfire threshold still runs, late).
 */
const QUEUE = "split-q";
let cluster: Awaited<ReturnType<typeof startNatsCluster>>;
let db: TestDatabase;
let pool: pg.Pool;
let target: HttpTarget;
const prefix = testNatsPrefix();
const processes = new Map<string, ServerProcess>();
const workers: Worker[] = [];
const executions = new Map<string, number>();

async function startRole(id: string, role: string): Promise<ServerProcess> {
  const server = await startServerProcess(id, {
    DATABASE_URL: db.url,
    NATS_URL: cluster.urls.join(","),
    CHIME_NATS_PREFIX: prefix,
    CHIME_NATS_REPLICAS: "3",
    CHIME_ROLES: role,
    CHIME_LEADER_LEASE_MS: "2000",
    CHIME_ELECTION_INTERVAL_MS: "200",
    CHIME_RECONCILE_INTERVAL_MS: "500",
    // Only the name is allowlisted: the http jobs call the target as localhost.
    CHIME_HTTP_ALLOWLIST: "localhost",
    CHIME_LOG_LEVEL: "info",
  });
  processes.set(id, server);
  return server;
}

beforeAll(async () => {
  [cluster, db, target] = await Promise.all([startNatsCluster(3), createTestDatabase(), startHttpTarget()]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  // The first api creates the schema; the rest start together.
  await startRole("api-a", "api");
  await Promise.all([
    startRole("api-b", "api"),
    startRole("scheduler-a", "scheduler"),
    startRole("scheduler-b", "scheduler"),
    startRole("ingest-a", "ingest"),
    startRole("executor-a", "executor"),
  ]);
  for (const id of ["w1", "w2"]) {
    const worker = new Worker({
      natsUrl: cluster.urls,
      prefix,
      queue: QUEUE,
      workerId: id,
      handler: async (run) => void executions.set(run.runId, (executions.get(run.runId) ?? 0) + 1),
    });
    await waitFor(`worker ${id} to start`, () => worker.start().then(() => true, () => false), { timeoutMs: 30_000, intervalMs: 500 });
    workers.push(worker);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await Promise.all([...processes.values()].map((p) => p.kill("SIGKILL")));
  await pool?.end();
  await cluster?.close();
  await target?.close();
  await db?.drop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
/** Waits until the middle of a wall-clock second: the per-second fires (and their http calls) happen near its start. */
const midSecond = () => sleep((1500 - (Date.now() % 1000)) % 1000);

it("loses and doubles no run when one NATS node and one process of each role are killed", { timeout: 300_000 }, async () => {
  const apiA = createChimeClient({ baseUrl: processes.get("api-a")!.grpcUrl, timeoutMs: 10_000 });
  const apiB = createChimeClient({ baseUrl: processes.get("api-b")!.grpcUrl, timeoutMs: 10_000 });
  const http = { url: `http://localhost:${target.port}/ok` };
  const crons = [
    ...(await Promise.all(Array.from({ length: 4 }, (_, i) => apiA.createJob({ name: `cron-${i}`, queue: QUEUE, schedule: { cron: "* * * * * *" }, misfire: "run_all" })))),
    ...(await Promise.all(Array.from({ length: 2 }, (_, i) => apiB.createJob({ name: `http-cron-${i}`, queue: "http", schedule: { cron: "* * * * * *" }, misfire: "run_all", http })))),
  ];
  const oneOffs: string[] = [];
  let named = 0;
  const createOneOffs = async (chime: typeof apiA, n: number) => {
    for (let i = 0; i < n; i++) {
      const name = `once-${named++}`;
      const job = i % 2 === 0
        ? await chime.createJob({ name, queue: QUEUE, schedule: "immediate" })
        : await chime.createJob({ name, queue: "http", schedule: "immediate", http });
      oneOffs.push(job.id);
    }
  };
  await Promise.all([createOneOffs(apiA, 10), createOneOffs(apiB, 10)]);
  await sleep(4000);

  // One of each at once, between two fires: a NATS node, an api, the scheduler leader, the ingest, the executor.
  const { rows: [leader] } = await pool.query<{ leader_id: string }>("SELECT leader_id FROM scheduler_leader");
  expect(["scheduler-a", "scheduler-b"]).toContain(leader.leader_id);
  await midSecond();
  const killed = [cluster.kill(0), ...["api-a", leader.leader_id, "ingest-a", "executor-a"].map((id) => processes.get(id)!.kill("SIGKILL"))];
  await Promise.all(killed);
  const killedAt = Date.now();
  // The api left standing takes every call meanwhile; the lone ingest and executor are replaced.
  await Promise.all([createOneOffs(apiB, 20), startRole("ingest-b", "ingest"), startRole("executor-b", "executor")]);
  const replacedMs = Date.now() - killedAt;
  await sleep(6000);
  await createOneOffs(apiB, 20);
  await sleep(2000);
  for (const job of crons) await apiB.pauseJob(job.id);

  const jobIds = [...crons.map((j) => j.id), ...oneOffs];
  type Row = { id: string; job_id: string; state: number; scheduled_time: Date; queue: string };
  let last: Row[] = [];
  const runs = await waitFor("every run to end", async () => {
    const rows = (last = (await pool.query<Row>(
      "SELECT id, job_id, state, scheduled_time, queue FROM runs WHERE job_id = ANY($1::uuid[]) ORDER BY scheduled_time",
      [jobIds],
    )).rows);
    // A run cancelled by the pause is an end too (it was queued when its cron paused).
    return rows.every((r) => r.state === RunState.SUCCEEDED || r.state === RunState.CANCELLED) ? rows : undefined;
  }, { timeoutMs: 150_000, intervalMs: 1000 }).catch((error: unknown) => {
    const open = last.filter((r) => r.state !== RunState.SUCCEEDED && r.state !== RunState.CANCELLED);
    const counts = new Map<string, number>();
    for (const r of open) counts.set(`${r.queue} state ${r.state}`, (counts.get(`${r.queue} state ${r.state}`) ?? 0) + 1);
    const byKind = [...counts].map(([kind, n]) => `${kind}: ${n}`);
    const complaints = [...processes.values()].flatMap((p) => p.logs.filter((line) => /"level":(40|50|60)\b/.test(line)).slice(-5).map((line) => `${p.serverId}: ${line}`));
    throw new Error(`${(error as Error).message}; not ended: ${byKind.join(", ")}\n${complaints.join("\n")}`);
  });

  const succeeded = runs.filter((r) => r.state === RunState.SUCCEEDED);
  // Executions: the Workers count their calls, the http target its requests (Idempotency-Key is the run id).
  const requests = new Map<string, number>();
  for (const request of target.requests) {
    const key = String(request.headers["idempotency-key"]);
    requests.set(key, (requests.get(key) ?? 0) + 1);
  }
  const executedTimes = (run: Row) => (run.queue === "http" ? requests : executions).get(run.id) ?? 0;
  const neverRan = succeeded.filter((r) => executedTimes(r) === 0).length;
  const ranTwiceRuns = runs.filter((r) => executedTimes(r) > 1);
  const ranTwice = ranTwiceRuns.length;
  const httpRanTwice = ranTwiceRuns.filter((r) => r.queue === "http").length;
  const firesTwice = runs.length - new Set(runs.map((r) => `${r.job_id}@${r.scheduled_time.getTime()}`)).size;
  // Every per-second fire between a cron's first and last run has its run: no gap.
  let missedFires = 0;
  for (const job of crons) {
    const times = runs.filter((r) => r.job_id === job.id).map((r) => r.scheduled_time.getTime());
    for (let i = 1; i < times.length; i++) missedFires += Math.round((times[i] - times[i - 1]) / 1000) - 1;
  }
  // The replacement executor starts while JetStream still moves leaders off the dead node: it may need more than one try.
  const executorRetries = processes.get("executor-b")!.logs.filter((line) => line.includes("cannot start the http executor yet")).length;
  const oneOffRuns = runs.filter((r) => oneOffs.includes(r.job_id));
  const httpRuns = runs.filter((r) => r.queue === "http").length;
  console.log(
    `split roles: 3 NATS nodes (R3), 2 api + 2 scheduler + 1 ingest + 1 executor processes, 2 SDK Workers; ` +
      `killed at once: 1 NATS node, api-a, the scheduler leader (${leader.leader_id}), ingest-a, executor-a (ingest and executor replaced in ${replacedMs} ms, the executor's start retried ${executorRetries} times); ` +
      `${runs.length} runs (${oneOffRuns.length} one-off, ${runs.length - oneOffRuns.length} cron; ${httpRuns} http, ${runs.length - httpRuns} worker), ` +
      `${succeeded.length} succeeded, ${runs.length - succeeded.length} cancelled by the pause; ` +
      `${neverRan} lost, ${ranTwice} executed twice (${httpRanTwice} http), ${firesTwice} fires doubled, ${missedFires} cron fires missed`,
  );
  expect(oneOffRuns.filter((r) => r.state === RunState.SUCCEEDED)).toHaveLength(oneOffs.length);
  expect({ neverRan, ranTwice, firesTwice, missedFires }).toEqual({ neverRan: 0, ranTwice: 0, firesTwice: 0, missedFires: 0 });
  // Each cron fired before and after the kills.
  for (const job of crons) {
    const times = runs.filter((r) => r.job_id === job.id).map((r) => r.scheduled_time.getTime());
    expect({ job: job.name, before: times.some((t) => t < killedAt), after: times.some((t) => t > killedAt + 5000) }).toEqual({ job: job.name, before: true, after: true });
  }
});
