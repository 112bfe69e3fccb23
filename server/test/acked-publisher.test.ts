import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { randomBytes } from "node:crypto";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { jetstreamManager } from "@nats-io/jetstream";
import { createAckedPublisher } from "../src/nats/acked-publisher.js";
import { TEST_NATS_URL } from "./helpers/env.js";

const stream = `ackpub_${randomBytes(4).toString("hex")}`;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: TEST_NATS_URL });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: stream, subjects: [`${stream}.>`], duplicate_window: 60_000_000_000 });
});
afterAll(async () => {
  if (!nc) return;
  await (await jetstreamManager(nc)).streams.delete(stream).catch(() => undefined);
  await nc.close();
});

const data = (text: string) => new TextEncoder().encode(text);

describe("acked publisher", () => {
  it("reports each message's stream sequence, a duplicate id as duplicate, and a subject no stream takes as failed", async () => {
    const publisher = createAckedPublisher(nc);
    const outcomes = await publisher.publish(
      [
        { subject: `${stream}.a`, data: data("1"), msgId: "m1" },
        { subject: `${stream}.b`, data: data("2"), msgId: "m2" },
        { subject: `${stream}.a`, data: data("again"), msgId: "m1" },
        { subject: `nostream_${stream}.x`, data: data("3"), msgId: "m3" },
      ],
      5000,
    );
    expect(outcomes[0]).toEqual({ ok: true, seq: 1, duplicate: false });
    expect(outcomes[1]).toEqual({ ok: true, seq: 2, duplicate: false });
    expect(outcomes[2]).toMatchObject({ ok: true, duplicate: true });
    expect(outcomes[3].ok).toBe(false);
    const info = await (await jetstreamManager(nc)).streams.info(stream);
    expect(info.state.messages).toBe(2);

    // Concurrent batches keep their own acknowledgements apart.
    const [x, y] = await Promise.all([
      publisher.publish(Array.from({ length: 300 }, (_, i) => ({ subject: `${stream}.x`, data: data(`x${i}`), msgId: `x${i}` })), 5000),
      publisher.publish(Array.from({ length: 300 }, (_, i) => ({ subject: `${stream}.y`, data: data(`y${i}`), msgId: `y${i}` })), 5000),
    ]);
    expect([...x, ...y].every((o) => o.ok && !o.duplicate)).toBe(true);
    const seqs = [...x, ...y].map((o) => (o.ok ? o.seq : 0));
    expect(new Set(seqs).size).toBe(600);
    publisher.close();
  });

  it("fails a batch's unanswered messages at the deadline instead of waiting forever", async () => {
    // A subscriber that never answers stands in for a stream that does not acknowledge.
    const silent = nc.subscribe(`silent_${stream}.>`);
    const publisher = createAckedPublisher(nc);
    const started = Date.now();
    const outcomes = await publisher.publish([{ subject: `silent_${stream}.x`, data: data("1"), msgId: "s1" }], 300);
    expect(outcomes).toEqual([{ ok: false, error: "no acknowledgement before the deadline" }]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    silent.unsubscribe();
    publisher.close();
  });
});
