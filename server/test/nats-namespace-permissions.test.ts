import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create, toBinary } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { createChimeClient, natsLayout, RunState, RunStatusBatchSchema, Worker, type ChimeClient, type Run, type WorkerRun } from "@chime/sdk";
import { readMetric } from "./helpers/metrics.js";
import { freePort } from "./helpers/server-process.js";
import { startTestServer, testNatsPrefix, type TestServer } from "./helpers/test-server.js";
import { terminalRun } from "./helpers/worker-runs.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Workers per namespace on NATS permissions: a nats-server of the test's own, started from the
 * users block of docs/deployment.md (placeholders filled in, the worker user repeated for
 * namespaces team-a and team-b). worker-team-b runs team-b's runs only; every way it could
 * take, ack or end team-a's runs is refused; team-a's runs wait for worker-team-a, which runs
 * each once. The workers' own connections meet no permission error on the way.
 */

const QUEUE = "work";
const RUNS_PER_NAMESPACE = 4;
const PASSWORD = { chime: "chime-secret", worker: "worker-secret" };
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };

let dir: string;
let nats: ChildProcess;
let natsUrl: string;
let prefix: string;
let server: TestServer;
let chime: ChimeClient;
const connections: NatsConnection[] = [];
const workers: Worker[] = [];

/** The documented users block with its placeholders filled in, the worker user once per namespace. */
function documentedUsers(namespaces: string[]): string {
  const doc = readFileSync(new URL("../../docs/deployment.md", import.meta.url), "utf8");
  const block = [...doc.matchAll(/```conf\n([\s\S]*?)```/g)].map((m) => m[1]).find((b) => b.includes("worker-<namespace>"));
  if (!block) throw new Error("docs/deployment.md has no conf block with the worker user");
  const [head, rest] = block.split(/^.*# worker-<namespace>: from here.*\n/m);
  const [worker, tail] = rest.split(/^.*# worker-<namespace>: to here.*\n/m);
  const fill = (text: string, namespace = "") =>
    text
      .replaceAll("<prefix>", prefix)
      .replaceAll("<queue>", QUEUE)
      .replaceAll("<namespace>", namespace)
      .replaceAll("<chime-password>", PASSWORD.chime)
      .replaceAll("<worker-password>", PASSWORD.worker);
  return fill(head) + namespaces.map((namespace) => fill(worker, namespace)).join("") + fill(tail);
}

/** A connection as one of the configured users, with the permission errors the server sent it. */
async function connectAs(user: string, password: string): Promise<{ nc: NatsConnection; violations: string[] }> {
  const nc = await connect({ servers: natsUrl, user, pass: password, reconnect: false });
  connections.push(nc);
  const violations: string[] = [];
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "error") violations.push(String(status.error));
    }
  })();
  return { nc, violations };
}

async function runsOf(jobId: string): Promise<Run[]> {
  const runs: Run[] = [];
  for await (const run of chime.listRuns({ jobId })) runs.push(run);
  return runs;
}

/** A job of the namespace triggered `count` times; its run ids. */
async function queuedRuns(namespace: string, name: string, count: number, retry?: { maxAttempts: number; initialBackoff: string }): Promise<string[]> {
  const job = await chime.createJob({ name, namespace, queue: QUEUE, schedule: { every: "1h" }, ...(retry ? { retry } : {}) });
  for (let i = 0; i < count; i++) await chime.triggerJob(job.id);
  return (await waitFor(`${count} runs of ${name}`, async () => {
    const runs = await runsOf(job.id);
    return runs.length >= count ? runs : undefined;
  })).map((run) => run.id);
}

function startWorker(nc: NatsConnection, namespace: string | undefined, ran: WorkerRun[], handler?: (run: WorkerRun) => void): Promise<Worker> {
  const worker = new Worker({
    connection: nc,
    prefix,
    queue: QUEUE,
    namespace,
    ackWaitMs: 5000,
    handler: (run) => {
      ran.push(run);
      handler?.(run);
    },
    logger: quiet,
  });
  workers.push(worker);
  return worker.start().then(() => worker);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "chime-nats-perms-"));
  prefix = testNatsPrefix();
  const port = await freePort();
  const config = join(dir, "nats.conf");
  writeFileSync(config, [`listen: 127.0.0.1:${port}`, `jetstream { store_dir: ${JSON.stringify(join(dir, "js"))} }`, documentedUsers(["team-a", "team-b"])].join("\n"));
  nats = spawn("/usr/sbin/nats-server", ["-c", config], { stdio: "ignore" });
  natsUrl = `nats://127.0.0.1:${port}`;
  await waitFor("the nats-server", async () => {
    const nc = await connect({ servers: natsUrl, user: "chime", pass: PASSWORD.chime, reconnect: false }).catch(() => undefined);
    await nc?.close();
    return nc !== undefined;
  }, { timeoutMs: 10_000, intervalMs: 100 });
  server = await startTestServer({
    CHIME_ROLES: "api,scheduler,ingest",
    CHIME_NATS_PREFIX: prefix,
    NATS_URL: `nats://chime:${PASSWORD.chime}@127.0.0.1:${port}`,
  });
  await waitFor("the server to reach NATS", async () => (await fetch(`${server.httpUrl}/healthz`)).status === 200, { timeoutMs: 15_000, intervalMs: 100 });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
});

afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(500)));
  await Promise.all(connections.map((nc) => nc.close().catch(() => undefined)));
  await server?.close();
  nats?.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("NATS permissions per namespace (docs/deployment.md)", () => {
  it("a worker of team-b runs team-b's runs only and cannot take, ack or end team-a's; worker-team-a runs each of team-a's once", async () => {
    const layout = natsLayout(prefix);
    const aRuns = await queuedRuns("team-a", "a-job", RUNS_PER_NAMESPACE);
    const bRuns = await queuedRuns("team-b", "b-job", RUNS_PER_NAMESPACE);

    // worker-team-b, kept to team-b, runs team-b's runs.
    const b = await connectAs("worker-team-b", PASSWORD.worker);
    const ranByB: WorkerRun[] = [];
    await startWorker(b.nc, "team-b", ranByB);
    for (const id of bRuns) expect((await terminalRun(chime, id)).state).toBe(RunState.SUCCEEDED);
    expect(ranByB.map((run) => run.runId).sort()).toEqual([...bRuns].sort());
    expect(new Set(ranByB.map((run) => run.namespace))).toEqual(new Set(["team-b"]));

    // team-a's consumer, made as its workers make it (here by the server's user, so that
    // nobody pulls from it yet): worker-team-b may neither read it nor pull from it.
    const admin = await connectAs("chime", PASSWORD.chime);
    const adminJsm = await jetstreamManager(admin.nc);
    const aConsumer = layout.queueConsumer("team-a", QUEUE);
    await adminJsm.consumers.add(layout.runsStream, {
      durable_name: aConsumer,
      filter_subject: layout.queueFilter("team-a", QUEUE),
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      max_deliver: 100,
    });

    const thief = await connectAs("worker-team-b", PASSWORD.worker);
    const thiefJsm = await jetstreamManager(thief.nc);
    const refused = /permissions violation/i;
    // A Worker of team-a on team-b's credentials.
    const impostor = new Worker({ connection: thief.nc, prefix, queue: QUEUE, namespace: "team-a", handler: () => undefined, logger: quiet });
    workers.push(impostor);
    await expect(impostor.start()).rejects.toThrow(refused);
    // Its own consumer name with team-a's filter: the create subject carries the filter.
    await expect(
      thiefJsm.consumers.add(layout.runsStream, { durable_name: layout.queueConsumer("team-b", "other"), filter_subject: layout.runSubject("team-a", QUEUE), ack_policy: AckPolicy.Explicit }),
    ).rejects.toThrow(refused);
    await expect(thiefJsm.consumers.add(layout.runsStream, { durable_name: layout.queueConsumer("team-b", QUEUE), filter_subject: layout.runSubject("team-a", QUEUE), ack_policy: AckPolicy.Explicit })).rejects.toThrow(refused);
    // The older create API, whose subject does not carry the filter.
    await expect(
      thief.nc.request(`$JS.API.CONSUMER.DURABLE.CREATE.${layout.runsStream}.${layout.queueConsumer("team-b", QUEUE)}`, JSON.stringify({ stream_name: layout.runsStream, config: { durable_name: layout.queueConsumer("team-b", QUEUE), filter_subject: layout.runSubject("team-a", QUEUE), ack_policy: "explicit" } })),
    ).rejects.toThrow(refused);
    // No reading the runs stream's messages, by sequence or by subject.
    await expect(thiefJsm.streams.getMessage(layout.runsStream, { seq: 1 })).rejects.toThrow(refused);
    await expect(thiefJsm.direct.getMessage(layout.runsStream, { last_by_subj: layout.runSubject("team-a", QUEUE) })).rejects.toThrow(refused);
    // team-a's consumer: no info, no pull, no ack.
    await expect(thiefJsm.consumers.info(layout.runsStream, aConsumer)).rejects.toThrow(refused);
    await expect(thief.nc.request(`$JS.API.CONSUMER.MSG.NEXT.${layout.runsStream}.${aConsumer}`, JSON.stringify({ batch: 1, expires: 1_000_000_000 }))).rejects.toThrow(refused);
    thief.nc.publish(`$JS.ACK.${layout.runsStream}.${aConsumer}.1.1.1.${Date.now()}000000.0`, "+ACK");
    await thief.nc.flush();
    await waitFor("the ack to be refused", () => thief.violations.some((v) => v.includes(`$JS.ACK.${layout.runsStream}.${aConsumer}`)));
    // Hand-back records of team-a's runs (they would lower those runs' attempt numbers).
    const handbacks = await new Kvm(thief.nc).open(layout.handbackBucket);
    await expect(handbacks.put(`team-a.${aRuns[0]}`, "5")).rejects.toThrow(refused);
    // Reports: team-a's events subject is refused; one on team-b's subject for a team-a run is
    // stored by JetStream and refused by the ingester.
    const forged = toBinary(
      RunStatusBatchSchema,
      create(RunStatusBatchSchema, { updates: [{ runId: aRuns[0], attempt: 1, state: RunState.SUCCEEDED, time: timestampFromDate(new Date()), workerId: "thief" }] }),
    );
    await expect(jetstream(thief.nc).publish(layout.eventSubject("team-a", QUEUE), forged)).rejects.toThrow(refused);
    await jetstream(thief.nc).publish(layout.eventSubject("team-b", QUEUE), forged);
    await waitFor("the forged report to be refused", async () => (await readMetric(server.httpUrl, "chime_status_updates_rejected_total", { reason: "wrong_namespace" })) === 1);

    // Nothing of team-a's ran or moved: its runs wait in its consumer.
    for (const id of aRuns) expect((await chime.getRun(id)).state).toBe(RunState.QUEUED);
    expect((await adminJsm.consumers.info(layout.runsStream, aConsumer)).num_pending).toBe(RUNS_PER_NAMESPACE);
    expect(ranByB.every((run) => run.namespace === "team-b")).toBe(true);

    // A worker of every namespace cannot join a queue served per namespace: the error names the consumers in the way.
    const everyNamespace = new Worker({ connection: admin.nc, prefix, queue: QUEUE, handler: () => undefined, logger: quiet });
    workers.push(everyNamespace);
    await expect(everyNamespace.start()).rejects.toThrow(new RegExp(`overlapping subject: .*${layout.queueConsumer("team-a", QUEUE)}.*workers with a namespace and workers without one`));

    // worker-team-a runs each of team-a's runs once, and a run that fails once again (a
    // redelivery reads its namespace's hand-back records).
    const flaky = await queuedRuns("team-a", "a-flaky", 1, { maxAttempts: 2, initialBackoff: "100ms" });
    const a = await connectAs("worker-team-a", PASSWORD.worker);
    const ranByA: WorkerRun[] = [];
    await startWorker(a.nc, "team-a", ranByA, (run) => {
      if (run.runId === flaky[0] && run.attempt === 1) throw new Error("first attempt fails");
    });
    for (const id of aRuns) expect(await terminalRun(chime, id)).toMatchObject({ state: RunState.SUCCEEDED, attempt: 1 });
    expect(await terminalRun(chime, flaky[0])).toMatchObject({ state: RunState.SUCCEEDED, attempt: 2 });
    expect(ranByA.filter((run) => run.runId !== flaky[0]).map((run) => run.runId).sort()).toEqual([...aRuns].sort());
    expect(ranByA.filter((run) => run.runId === flaky[0]).map((run) => run.attempt)).toEqual([1, 2]);
    expect(new Set(ranByA.map((run) => run.namespace))).toEqual(new Set(["team-a"]));
    expect(ranByB.map((run) => run.runId).sort()).toEqual([...bRuns].sort());

    // The documented permissions were enough for the workers' own work.
    expect(a.violations).toEqual([]);
    expect(b.violations).toEqual([]);
  });
});
