import { afterAll, beforeAll, expect, it } from "vitest";
import pg from "pg";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createChimeClient, natsLayout, RunState, Worker } from "@chime/sdk";
import { startNatsCluster } from "./helpers/nats-cluster.js";
import { startServerProcess, type ServerProcess } from "./helpers/server-process.js";
import { createTestDatabase, type TestDatabase } from "./helpers/test-database.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Runs that end while their queue's consumer has no leader (its NATS node was killed, a new
 * leader is being elected) are acked once and not run again: a fire-and-forget ack sent in
 * that window reaches nobody, and JetStream redelivers the run after its ack wait. The Worker
 * waits for JetStream to confirm each ack (confirmed-ack.ts) and tries again until a new leader
 * takes it.
 */
const QUEUE = "leader-loss";
const RUNS = 20;
// Longer than the kill and the election take: a new leader redelivers at once what it holds
// delivered longer ago than that (it does not know of the worker's heartbeats).
const ACK_WAIT_MS = 15_000;
let cluster: Awaited<ReturnType<typeof startNatsCluster>>;
let db: TestDatabase;
let pool: pg.Pool;
let server: ServerProcess;
let admin: NatsConnection | undefined;
let worker: Worker | undefined;
const prefix = testNatsPrefix();
const layout = natsLayout(prefix);
const executions = new Map<string, number>();
let release!: () => void;
const gate = new Promise<void>((resolve) => (release = resolve));

beforeAll(async () => {
  [cluster, db] = await Promise.all([startNatsCluster(3), createTestDatabase()]);
  pool = new pg.Pool({ connectionString: db.url, max: 2 });
  server = await startServerProcess("leader-loss", {
    DATABASE_URL: db.url,
    NATS_URL: cluster.urls.join(","),
    CHIME_NATS_PREFIX: prefix,
    CHIME_NATS_REPLICAS: "3",
  });
}, 120_000);

afterAll(async () => {
  release();
  await worker?.stop(0);
  await admin?.close();
  await server?.kill("SIGKILL");
  await pool?.end();
  await cluster?.close();
  await db?.drop();
});

const nodeIndex = (name: string | undefined) => Number(/^n(\d+)$/.exec(name ?? "")?.[1] ?? Number.NaN);

it("a run acked while its consumer's leader is being re-elected is not run again", { timeout: 200_000 }, async () => {
  // A worker whose leader is known first: its consumer exists once it started.
  const probe = new Worker({ natsUrl: cluster.urls, prefix, queue: QUEUE, workerId: "probe", ackWaitMs: ACK_WAIT_MS, handler: async () => undefined });
  await probe.start();
  await probe.stop(0);
  admin = await connect({ servers: cluster.urls });
  const jsm = await jetstreamManager(admin);
  const consumerLeader = nodeIndex((await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE))).cluster?.leader);
  expect(consumerLeader).toBeGreaterThanOrEqual(0);
  // Its reports must reach JetStream at once, so its acks fall in the leaderless window: the
  // events stream is led from another node (a leader stepdown moves it off if need be).
  await waitFor("the events stream to be led away from the consumer's leader", async () => {
    const leader = nodeIndex((await jsm.streams.info(layout.eventsStream)).cluster?.leader);
    if (leader === consumerLeader) await admin!.request(`$JS.API.STREAM.LEADER.STEPDOWN.${layout.eventsStream}`, "", { timeout: 5000 }).catch(() => undefined);
    return !Number.isNaN(leader) && leader !== consumerLeader;
  }, { timeoutMs: 30_000, intervalMs: 500 });

  // The worker talks to a node that survives: the acks travel on to the consumer's leader.
  const survivor = cluster.urls.find((_, i) => i !== consumerLeader)!;
  worker = new Worker({
    natsUrl: survivor,
    prefix,
    queue: QUEUE,
    workerId: "w",
    ackWaitMs: ACK_WAIT_MS,
    handler: async (run) => {
      executions.set(run.runId, (executions.get(run.runId) ?? 0) + 1);
      await gate;
    },
  });
  await worker.start();
  const chime = createChimeClient({ baseUrl: server.grpcUrl, timeoutMs: 10_000 });
  const jobs = await Promise.all(Array.from({ length: RUNS }, (_, i) => chime.createJob({ name: `once-${i}`, queue: QUEUE, schedule: "immediate" })));
  await waitFor(`${RUNS} handlers to be running`, () => worker!.running === RUNS, { timeoutMs: 30_000, intervalMs: 50 });

  // The consumer's leader dies; every handler returns at once and its run is acked meanwhile.
  await cluster.kill(consumerLeader);
  release();

  const ids = jobs.map((j) => j.id);
  await waitFor("every run to succeed", async () => {
    const { rows } = await pool.query<{ state: number }>("SELECT state FROM runs WHERE job_id = ANY($1::uuid[])", [ids]);
    return rows.length === RUNS && rows.every((r) => r.state === RunState.SUCCEEDED);
  }, { timeoutMs: 100_000, intervalMs: 250 });
  // Past the ack wait: a lost ack's run would have come back by now.
  await new Promise((resolve) => setTimeout(resolve, ACK_WAIT_MS + 3000));
  const counts = [...executions.values()];
  expect({ runs: counts.length, ranTwice: counts.filter((n) => n > 1).length }).toEqual({ runs: RUNS, ranTwice: 0 });
  // And no delivery is left in the work queue.
  const { num_pending, num_ack_pending } = await jsm.consumers.info(layout.runsStream, layout.queueConsumer(undefined, QUEUE));
  expect({ num_pending, num_ack_pending }).toEqual({ num_pending: 0, num_ack_pending: 0 });
});
