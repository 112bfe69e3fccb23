import { afterAll, beforeAll, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsLayout, RunState, Worker } from "@chime/sdk";
import { startNatsCluster } from "./helpers/nats-cluster.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { createChimeClient, type ChimeClient } from "@chime/sdk";
import { waitFor } from "./helpers/wait.js";

/**
 * Chime on a 3-node JetStream cluster with every stream and bucket replicated three times
 * (CHIME_NATS_REPLICAS=3, NATS_URL listing the nodes): per-second crons and one-offs run
 * through the loss of a node with none lost and none run twice.
 */
let cluster: Awaited<ReturnType<typeof startNatsCluster>>;
let server: TestServer;
let chime: ChimeClient;
let worker: Worker;
const executions = new Map<string, number>();
/** The attempt numbers each run was executed with, for the report. */
const attempts = new Map<string, number[]>();

beforeAll(async () => {
  cluster = await startNatsCluster(3);
  server = await startTestServer({ NATS_URL: cluster.urls.join(","), CHIME_NATS_REPLICAS: "3" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  worker = new Worker({
    natsUrl: cluster.urls,
    prefix: server.config.natsPrefix,
    queue: "cluster-q",
    workerId: "c",
    handler: async (run) => {
      executions.set(run.runId, (executions.get(run.runId) ?? 0) + 1);
      attempts.set(run.runId, [...(attempts.get(run.runId) ?? []), run.attempt]);
    },
  });
  await waitFor("the server's streams", async () => (await server.pool.query("SELECT 1")).rowCount === 1 && (await worker.start().then(() => true, () => false)), { timeoutMs: 30_000, intervalMs: 500 });
}, 60_000);
afterAll(async () => {
  await worker?.stop();
  await server?.close();
  await cluster?.close();
});

it("replicates every stream three times and loses or doubles no run when a NATS node is killed", { timeout: 120_000 }, async () => {
  const nc = await connect({ servers: cluster.urls });
  const jsm = await jetstreamManager(nc);
  const layout = natsLayout(server.config.natsPrefix);
  for (const stream of [layout.runsStream, layout.eventsStream, `KV_${layout.cancelBucket}`]) {
    const info = await jsm.streams.info(stream);
    expect({ stream, replicas: info.config.num_replicas }).toEqual({ stream, replicas: 3 });
  }
  await nc.close();

  const crons = await Promise.all(
    Array.from({ length: 5 }, (_, i) => chime.createJob({ name: `cron-${i}`, queue: "cluster-q", schedule: { cron: "* * * * * *" } })),
  );
  const oneOffs: string[] = [];
  const createOneOffs = async (n: number) => {
    for (let i = 0; i < n; i++) oneOffs.push((await chime.createJob({ name: `once-${oneOffs.length}`, queue: "cluster-q", schedule: "immediate" })).id);
  };
  await createOneOffs(20);
  await new Promise((resolve) => setTimeout(resolve, 4000));
  await cluster.kill(0);
  await createOneOffs(20);
  await new Promise((resolve) => setTimeout(resolve, 6000));
  await createOneOffs(20);
  for (const job of crons) await chime.jobService.pauseJob({ id: job.id });

  const jobIds = [...crons.map((j) => j.id), ...oneOffs];
  const runs = await waitFor("every run to succeed", async () => {
    const { rows } = await server.pool.query<{ id: string; job_id: string; state: number; scheduled_time: Date }>(
      "SELECT id, job_id, state, scheduled_time FROM runs WHERE job_id = ANY($1::uuid[]) ORDER BY scheduled_time",
      [jobIds],
    );
    // A run cancelled by the pause is an end too (it was queued when its cron paused).
    return rows.every((r) => r.state === RunState.SUCCEEDED || r.state === RunState.CANCELLED) ? rows : undefined;
  }, { timeoutMs: 60_000, intervalMs: 500 });

  const succeeded = runs.filter((r) => r.state === RunState.SUCCEEDED);
  const doubled = succeeded.filter((r) => (executions.get(r.id) ?? 0) > 1).length;
  const neverRan = succeeded.filter((r) => !executions.has(r.id)).length;
  // Every per-second fire between a cron's first and last run has its run: no gap.
  let missedFires = 0;
  for (const job of crons) {
    const times = runs.filter((r) => r.job_id === job.id).map((r) => r.scheduled_time.getTime());
    for (let i = 1; i < times.length; i++) missedFires += Math.round((times[i] - times[i - 1]) / 1000) - 1;
  }
  const oneOffRuns = runs.filter((r) => oneOffs.includes(r.job_id));
  console.log(
    `nats cluster: ${runs.length} runs (${oneOffRuns.length} one-off, ${runs.length - oneOffRuns.length} cron), ${succeeded.length} succeeded, ` +
      `${executions.size} executed, ${doubled} executed twice (attempts ${succeeded.filter((r) => (executions.get(r.id) ?? 0) > 1).map((r) => attempts.get(r.id)!.join("+")).join(", ") || "-"}), ${neverRan} never executed, ${missedFires} cron fires missed, one node of 3 killed`,
  );
  expect(oneOffRuns.filter((r) => r.state === RunState.SUCCEEDED)).toHaveLength(60);
  expect({ doubled, neverRan, missedFires }).toEqual({ doubled: 0, neverRan: 0, missedFires: 0 });
  expect(crons.every((job) => runs.some((r) => r.job_id === job.id))).toBe(true);
});
