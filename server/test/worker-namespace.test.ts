import { afterAll, beforeAll, expect, it } from "vitest";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsLayout, Worker } from "@chime/sdk";
import { ensureStreams } from "../src/nats/streams.js";
import { TEST_NATS_URL } from "./helpers/env.js";
import { testNatsPrefix } from "./helpers/test-server.js";
import { deleteNatsPrefix } from "./helpers/test-nats.js";

/**
 * A queue is served per namespace or for every namespace: JetStream's work queue refuses
 * overlapping consumers, and Worker.start() says so, naming the consumer in the way.
 */

const quiet = { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined };
const prefix = testNatsPrefix();
const layout = natsLayout(prefix);
let nc: NatsConnection;
const workers: Worker[] = [];

beforeAll(async () => {
  nc = await connect({ servers: TEST_NATS_URL });
  await ensureStreams(nc, prefix);
});
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop(500)));
  await nc?.close();
  await deleteNatsPrefix(prefix);
});

const worker = (queue: string, namespace?: string) => {
  const w = new Worker({ connection: nc, prefix, queue, namespace, handler: () => undefined, logger: quiet });
  workers.push(w);
  return w;
};

it("refuses a namespaced Worker on a queue served for every namespace, and the reverse, naming the other consumer", async () => {
  await worker("shared").start();
  await expect(worker("shared", "team-a").start()).rejects.toThrow(
    `cannot consume queue "shared" of namespace "team-a" (filter ${prefix}.runs.team-a.shared): another consumer of ${prefix}_RUNS takes an overlapping subject: ${prefix}_runs_shared (${prefix}.runs.*.shared)`,
  );

  await worker("split", "team-a").start();
  await worker("split", "team-b").start();
  await expect(worker("split").start()).rejects.toThrow(/of every namespace \(filter .*\.runs\.\*\.split\): .*_runs_split@team-a .*_runs_split@team-b/);

  // What stands: one consumer per queue, or one per namespace of it.
  const jsm = await jetstreamManager(nc);
  const consumers: Record<string, string | undefined> = {};
  for await (const info of jsm.consumers.list(layout.runsStream)) consumers[info.name] = info.config.filter_subject;
  expect(consumers).toEqual({
    [layout.queueConsumer(undefined, "shared")]: `${prefix}.runs.*.shared`,
    [layout.queueConsumer("team-a", "split")]: `${prefix}.runs.team-a.split`,
    [layout.queueConsumer("team-b", "split")]: `${prefix}.runs.team-b.split`,
  });
});
