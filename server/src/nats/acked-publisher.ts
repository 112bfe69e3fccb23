import { PubHeaders, type ApiError, type PubAck } from "@nats-io/jetstream";
import { createInbox, headers as natsHeaders, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export interface AckedMessage {
  subject: string;
  data: Uint8Array;
  /** Sent as Nats-Msg-Id: JetStream drops a second message with this id inside the stream's duplicate window. */
  msgId: string;
}

export type PublishOutcome = { ok: true; seq: number; duplicate: boolean } | { ok: false; error: string };

interface PendingBatch {
  outcomes: (PublishOutcome | undefined)[];
  remaining: number;
  done: (outcomes: PublishOutcome[]) => void;
}

/**
 * Publishes batches of messages to JetStream and collects every acknowledgement.
 *
 * `JetStreamClient.publish` is a request per message (a reply subscription entry, a
 * timer and an error object each): over a hundred microseconds of the leader's CPU per
 * run. Here a batch shares one reply subscription and one timer: each message is a
 * plain publish whose reply subject names its batch and position, and JetStream's ack
 * (or error) for it comes back to that subject. A message without an ack by the deadline
 * counts as failed (it may still have been stored: callers must tolerate that, as the
 * run outbox does with msg ids and the reconciler).
 */
export function createAckedPublisher(connection: NatsConnection) {
  const prefix = createInbox();
  const batches = new Map<number, PendingBatch>();
  let nextBatch = 0;
  let subscription: Subscription | undefined;

  const settle = (batchId: number, batch: PendingBatch) => {
    batches.delete(batchId);
    batch.done(Array.from(batch.outcomes, (o) => o ?? { ok: false, error: "no acknowledgement before the deadline" }));
  };

  const onReply = (msg: Msg) => {
    // Subject: <prefix>.<batch>.<index>
    const tail = msg.subject.slice(prefix.length + 1);
    const dot = tail.indexOf(".");
    const batchId = Number(tail.slice(0, dot));
    const index = Number(tail.slice(dot + 1));
    const batch = batches.get(batchId);
    if (!batch || batch.outcomes[index] !== undefined) return;
    batch.outcomes[index] = outcomeOf(msg);
    if (--batch.remaining === 0) settle(batchId, batch);
  };

  return {
    publish(messages: AckedMessage[], timeoutMs: number): Promise<PublishOutcome[]> {
      if (messages.length === 0) return Promise.resolve([]);
      subscription ??= connection.subscribe(`${prefix}.>`, {
        callback: (error, msg) => {
          if (!error) onReply(msg);
        },
      });
      const batchId = nextBatch++;
      return new Promise<PublishOutcome[]>((resolve) => {
        const timer = setTimeout(() => {
          const batch = batches.get(batchId);
          if (batch) settle(batchId, batch);
        }, timeoutMs);
        const batch: PendingBatch = {
          outcomes: new Array(messages.length),
          remaining: messages.length,
          done: (outcomes) => {
            clearTimeout(timer);
            resolve(outcomes);
          },
        };
        batches.set(batchId, batch);
        messages.forEach((message, index) => {
          try {
            const headers = natsHeaders();
            headers.set(PubHeaders.MsgIdHdr, message.msgId);
            connection.publish(message.subject, message.data, { reply: `${prefix}.${batchId}.${index}`, headers });
          } catch (error) {
            batch.outcomes[index] = { ok: false, error: (error as Error).message };
            if (--batch.remaining === 0) settle(batchId, batch);
          }
        });
      });
    },
    close(): void {
      subscription?.unsubscribe();
      subscription = undefined;
      for (const [batchId, batch] of batches) settle(batchId, batch);
    },
  };
}

export type AckedPublisher = ReturnType<typeof createAckedPublisher>;

const decoder = new TextDecoder();

function outcomeOf(msg: Msg): PublishOutcome {
  // No stream listens on the subject: the server answers with a 503 status.
  if (msg.headers?.hasError) return { ok: false, error: `NATS ${msg.headers.code} ${msg.headers.description || "no responders"}` };
  try {
    const ack = JSON.parse(decoder.decode(msg.data)) as Partial<PubAck> & { error?: ApiError };
    if (ack.error) return { ok: false, error: `JetStream ${ack.error.code} ${ack.error.description}` };
    return { ok: true, seq: ack.seq ?? 0, duplicate: ack.duplicate === true };
  } catch {
    return { ok: false, error: "unreadable JetStream acknowledgement" };
  }
}
