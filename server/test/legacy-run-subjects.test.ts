import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager, type JetStreamManager, type MsgRequest } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { decodeRunAssignment, encodeRunAssignment, natsLayout, RunAssignmentSchema, RunState, Worker, type NatsLayout } from "@chime/sdk";
import { createLogger } from "../src/logger.js";
import { moveLegacyRuns } from "../src/nats/legacy-runs.js";
import { ensureStreams } from "../src/nats/streams.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { testNatsPrefix, useTestServer } from "./helpers/test-server.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";
import { terminalRun } from "./helpers/worker-runs.js";
import { waitFor } from "./helpers/wait.js";

/**
 * Runs published before subjects carried the namespace (`<prefix>.runs.<queue>`) are moved by
 * the leader to `<prefix>.runs.<namespace>.<queue>`, except for a queue that old workers still
 * serve; a server upgraded with such runs in its stream runs each of them once.
 */

const QUIET = createLogger("silent");
const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
let nc: NatsConnection;
let jsm: JetStreamManager;
const prefixes: string[] = [];

beforeAll(async () => {
  nc = await connect({ servers: TEST_NATS_URL });
  jsm = await jetstreamManager(nc);
});
afterAll(async () => {
  await nc?.close();
  for (const prefix of prefixes) await deleteNatsPrefix(prefix);
});

const assignment = (namespace: string, queue: string) =>
  encodeRunAssignment(create(RunAssignmentSchema, { runId: randomUUID(), jobId: randomUUID(), jobName: "legacy", namespace, queue }));

async function subjectCounts(layout: NatsLayout): Promise<Record<string, number>> {
  return (await jsm.streams.info(layout.runsStream, { subjects_filter: layout.runsSubjects })).state.subjects ?? {};
}

describe("moveLegacyRuns", () => {
  it("moves each old-subject run to its namespace's subject once, leaving a queue old workers still serve until they are gone", async () => {
    const prefix = testNatsPrefix();
    prefixes.push(prefix);
    const layout = natsLayout(prefix);
    await ensureStreams(nc, prefix);
    const js = jetstream(nc);
    const legacy = (queue: string) => `${prefix}.runs.${queue}`;
    const a1 = assignment("team-a", "q1");
    await js.publish(legacy("q1"), a1, { msgID: "a1" });
    await js.publish(layout.runSubject("team-a", "q1"), assignment("team-a", "q1"), { msgID: "new" });
    await js.publish(legacy("q1"), assignment("team-b", "q1"), { msgID: "b1" });
    await js.publish(legacy("q2"), assignment("team-a", "q2"), { msgID: "a2" });
    await js.publish(legacy("q2"), new Uint8Array([0xff, 0xff, 0xff, 0x01]), { msgID: "garbage" });

    // An old worker holds one of q2's runs (its consumer filters on the old subject).
    const oldConsumer = layout.queueConsumer(undefined, "q2");
    await jsm.consumers.add(layout.runsStream, { durable_name: oldConsumer, filter_subject: legacy("q2"), ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All });
    const held = await (await js.consumers.get(layout.runsStream, oldConsumer)).next({ expires: 5000 });
    expect(held).not.toBeNull();

    expect(await moveLegacyRuns(js, layout, QUIET)).toBe(2);
    expect(await subjectCounts(layout)).toEqual({ [layout.runSubject("team-a", "q1")]: 2, [layout.runSubject("team-b", "q1")]: 1, [legacy("q2")]: 2 });
    // The moved message is the run's assignment as it was.
    const moved = await jsm.streams.getMessage(layout.runsStream, { last_by_subj: layout.runSubject("team-b", "q1") });
    expect(decodeRunAssignment(moved!.data)).toMatchObject({ namespace: "team-b", queue: "q1" });
    expect(await moveLegacyRuns(js, layout, QUIET)).toBe(0);

    // A worker of this version takes the consumer over (its filter moves to the new subjects): q2's runs move, the undecodable one is dropped.
    await jsm.consumers.update(layout.runsStream, oldConsumer, { filter_subject: layout.queueFilter(undefined, "q2") });
    expect(await moveLegacyRuns(js, layout, QUIET)).toBe(2);
    expect(await subjectCounts(layout)).toEqual({ [layout.runSubject("team-a", "q1")]: 2, [layout.runSubject("team-b", "q1")]: 1, [layout.runSubject("team-a", "q2")]: 1 });
    expect(await moveLegacyRuns(js, layout, QUIET)).toBe(0);
  });
});

describe("a server upgraded with runs on the old subjects", () => {
  const fixture = useTestServer({ CHIME_ROLES: "api,scheduler,ingest", CHIME_RECONCILE_INTERVAL_MS: "200" });

  it("runs each of them once on a Worker of this version", async () => {
    const { server, chime } = fixture;
    const layout = natsLayout(server.config.natsPrefix);
    const queue = "legacy-q";
    const job = await chime.createJob({ name: "from-before", queue, schedule: { every: "1h" } });
    const runIds = [(await chime.triggerJob(job.id)).id, (await chime.triggerJob(job.id)).id];
    // As an older leader would have published them: on <prefix>.runs.<queue>.
    const subject = layout.runSubject("default", queue);
    await waitFor("both runs published", async () => (await subjectCounts(layout))[subject] === 2);
    const js = jetstream(nc);
    for (let seq = 1; ; ) {
      const msg = await jsm.streams.getMessage(layout.runsStream, { seq, next_by_subj: subject } as unknown as MsgRequest);
      if (!msg) break;
      seq = msg.seq + 1;
      await js.publish(`${server.config.natsPrefix}.runs.${queue}`, msg.data, { msgID: `old-${msg.seq}` });
      await jsm.streams.deleteMessage(layout.runsStream, msg.seq, false);
    }

    const ran: string[] = [];
    const worker = new Worker({ connection: nc, prefix: server.config.natsPrefix, queue, handler: (run) => void ran.push(run.runId), logger: quiet });
    await worker.start();
    try {
      for (const id of runIds) expect((await terminalRun(chime, id)).state).toBe(RunState.SUCCEEDED);
      expect(ran.sort()).toEqual([...runIds].sort());
    } finally {
      await worker.stop(500);
    }
  });
});
