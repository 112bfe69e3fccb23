import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ACK, ackSubjectOf, confirmAck, nakPayload } from "./confirmed-ack.js";

const NATS_URL = process.env.CHIME_TEST_NATS_URL ?? process.env.NATS_URL ?? "nats://127.0.0.1:4222";
const STREAM = `CONFIRMACK_${process.pid}_${Date.now().toString(36)}`.toUpperCase();
const SUBJECT = `confirmack.${process.pid}.${Date.now().toString(36)}`;
let nc: NatsConnection;

beforeAll(async () => {
  nc = await connect({ servers: NATS_URL, noAsyncTraces: true });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: STREAM, subjects: [`${SUBJECT}.>`], retention: RetentionPolicy.Workqueue });
  await jsm.consumers.add(STREAM, { durable_name: "c", ack_policy: AckPolicy.Explicit, ack_wait: 30_000_000_000 });
});

afterAll(async () => {
  await (await jetstreamManager(nc)).streams.delete(STREAM).catch(() => undefined);
  await nc?.close();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("confirmAck", () => {
  it("tries again while nobody answers (a consumer leader being elected) and resolves once one does", async () => {
    const reply = createInbox();
    const confirming = confirmAck(nc, reply, ACK, { withinMs: 10_000, firstPauseMs: 50 });
    await sleep(400);
    // The new leader: it takes the ack and answers.
    const seen: string[] = [];
    const leader = nc.subscribe(reply, { callback: (_, msg) => {
        seen.push(msg.string());
        msg.respond();
      } });
    await nc.flush();
    expect(await confirming).toBe(true);
    expect(seen).toEqual(["+ACK"]);
    leader.unsubscribe();
  });

  it("gives up once its time is spent", async () => {
    const startedAt = Date.now();
    expect(await confirmAck(nc, createInbox(), ACK, { withinMs: 600, firstPauseMs: 50 })).toBe(false);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
  });

  it("acks a JetStream delivery (the work queue drops it), and an ack repeated after it is answered too", async () => {
    const js = jetstream(nc);
    await js.publish(`${SUBJECT}.ack`, "one");
    const msg = await (await js.consumers.get(STREAM, "c")).next({ expires: 5000 });
    expect(msg).not.toBeNull();
    expect(await confirmAck(nc, ackSubjectOf(msg!), ACK, { withinMs: 5000 })).toBe(true);
    expect(await confirmAck(nc, ackSubjectOf(msg!), ACK, { withinMs: 5000 })).toBe(true);
    expect((await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages).toBe(0);
  });

  it("naks with the delay asked for: the delivery comes back after it, not at once", async () => {
    const js = jetstream(nc);
    await js.publish(`${SUBJECT}.nak`, "two");
    const consumer = await js.consumers.get(STREAM, "c");
    const first = await consumer.next({ expires: 5000 });
    expect(first?.string()).toBe("two");
    const nakedAt = Date.now();
    expect(await confirmAck(nc, ackSubjectOf(first!), nakPayload(1500), { withinMs: 5000 })).toBe(true);
    const again = await consumer.next({ expires: 5000 });
    expect(again?.string()).toBe("two");
    expect(again!.info.deliveryCount).toBe(2);
    expect(Date.now() - nakedAt).toBeGreaterThanOrEqual(1400);
    again!.ack();
  });
});
