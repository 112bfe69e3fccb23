import { AckPolicy, jetstream, jetstreamManager, RetentionPolicy } from "@nats-io/jetstream";
import { connect, createInbox, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { ACK, AckConfirmer, ackSubjectOf, nakPayload } from "./confirmed-ack.js";

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

/** A confirmer closed after the test, so its reply subscription and sweep end with it. */
const confirmers: AckConfirmer[] = [];
function confirmer(options: ConstructorParameters<typeof AckConfirmer>[1]): AckConfirmer {
  const made = new AckConfirmer(nc, options);
  confirmers.push(made);
  return made;
}
afterEach(() => {
  for (const c of confirmers.splice(0)) c.close();
});

describe("AckConfirmer", () => {
  it("tries again while nobody answers (a consumer leader being elected) and resolves once one does", async () => {
    const reply = createInbox();
    const confirming = confirmer({ withinMs: 10_000, firstPauseMs: 50 }).confirm(reply, ACK);
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
    expect(await confirmer({ withinMs: 600, firstPauseMs: 50 }).confirm(createInbox(), ACK)).toBe(false);
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(300);
  });

  it("acks a JetStream delivery (the work queue drops it), and an ack repeated after it is answered too", async () => {
    const js = jetstream(nc);
    await js.publish(`${SUBJECT}.ack`, "one");
    const msg = await (await js.consumers.get(STREAM, "c")).next({ expires: 5000 });
    expect(msg).not.toBeNull();
    const acks = confirmer({ withinMs: 5000 });
    expect(await acks.confirm(ackSubjectOf(msg!), ACK)).toBe(true);
    expect(await acks.confirm(ackSubjectOf(msg!), ACK)).toBe(true);
    expect((await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages).toBe(0);
  });

  it("naks with the delay asked for: the delivery comes back after it, not at once", async () => {
    const js = jetstream(nc);
    await js.publish(`${SUBJECT}.nak`, "two");
    const consumer = await js.consumers.get(STREAM, "c");
    const first = await consumer.next({ expires: 5000 });
    expect(first?.string()).toBe("two");
    const nakedAt = Date.now();
    expect(await confirmer({ withinMs: 5000 }).confirm(ackSubjectOf(first!), nakPayload(1500))).toBe(true);
    const again = await consumer.next({ expires: 5000 });
    expect(again?.string()).toBe("two");
    expect(again!.info.deliveryCount).toBe(2);
    expect(Date.now() - nakedAt).toBeGreaterThanOrEqual(1400);
    again!.ack();
  });

  it("tries again when an answer does not come within the try's timeout", async () => {
    const reply = createInbox();
    const tries: number[] = [];
    // A leader that lets the first try go unanswered, then answers.
    const leader = nc.subscribe(reply, { callback: (_, msg) => {
        tries.push(Date.now());
        if (tries.length > 1) msg.respond();
      } });
    await nc.flush();
    expect(await confirmer({ withinMs: 5000, tryTimeoutMs: 300, firstPauseMs: 50 }).confirm(reply, ACK)).toBe(true);
    expect(tries).toHaveLength(2);
    expect(tries[1] - tries[0]).toBeGreaterThanOrEqual(300);
    leader.unsubscribe();
  });

  it("confirms a thousand deliveries acked at once, each exactly where it was sent, and the work queue is empty after", async () => {
    const js = jetstream(nc);
    await Promise.all(Array.from({ length: 1000 }, (_, i) => js.publish(`${SUBJECT}.many`, String(i))));
    const consumer = await js.consumers.get(STREAM, "c");
    const messages = [];
    for await (const msg of await consumer.fetch({ max_messages: 1000, expires: 5000 })) {
      messages.push(msg);
      if (messages.length === 1000) break;
    }
    expect(messages).toHaveLength(1000);
    const acks = confirmer({ withinMs: 5000 });
    expect(new Set(await Promise.all(messages.map((m) => acks.confirm(ackSubjectOf(m), ACK))))).toEqual(new Set([true]));
    expect((await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages).toBe(0);
  });

  it("settles what is waiting as unconfirmed when closed, and confirms nothing after", async () => {
    const acks = confirmer({ withinMs: 10_000, firstPauseMs: 50 });
    const waiting = acks.confirm(createInbox(), ACK); // nobody answers
    await sleep(100);
    acks.close();
    expect(await waiting).toBe(false);
    expect(await acks.confirm(createInbox(), ACK)).toBe(false);
  });
});
