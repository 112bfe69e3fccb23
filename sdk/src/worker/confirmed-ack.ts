import type { JsMsg } from "@nats-io/jetstream";
import { createInbox, type Msg, type NatsConnection, type Subscription } from "@nats-io/transport-node";

export const ACK = new TextEncoder().encode("+ACK");

/** A nak asking for redelivery after `delayMs` (JetStream takes the delay in nanoseconds). */
export const nakPayload = (delayMs: number) => new TextEncoder().encode(`-NAK ${JSON.stringify({ delay: delayMs * 1_000_000 })}`);

/**
 * A delivery's ack subject: its reply subject, which JetStream's messages carry (the JsMsg
 * interface leaves it out; its implementation has it, as `reply`).
 */
export function ackSubjectOf(msg: JsMsg): string {
  const reply = (msg as JsMsg & { reply?: unknown }).reply;
  if (typeof reply !== "string" || reply === "") throw new Error(`JetStream message ${msg.seq} has no reply subject to ack it on`);
  return reply;
}

export interface ConfirmOptions {
  /** How long to go on trying, from the first try. */
  withinMs: number;
  /** How long one try waits for JetStream's answer. */
  tryTimeoutMs?: number;
  /** First pause between tries (doubled each time, at most 1 s). */
  firstPauseMs?: number;
}

interface Pending {
  reply: string;
  payload: Uint8Array;
  replyTo: string;
  resolve: (confirmed: boolean) => void;
  giveUpAt: number;
  /** While a try is out: when it counts as unanswered. */
  answerBy: number;
  /** After a failed try: when the next one goes out. */
  retryAt: number;
  pauseMs: number;
}

/** JetStream's "no responders" (no consumer leader takes the subject): a status with no data. */
const isRefusal = (msg: Msg) => msg.data.length === 0 && (msg.headers?.code ?? 0) >= 400;

/**
 * Sends acknowledgements (`+ACK`, or a `-NAK` with its delay) to deliveries' reply subjects
 * and tries each again until JetStream answers it: the consumer's leader answers once it has
 * taken the ack. A plain ack is fire-and-forget, and one sent while the consumer's leader is
 * moving (its NATS node died) reaches nobody: JetStream then redelivers the run after its ack
 * wait and it executes a second time. Without a leader a try is refused at once ("no
 * responders"), so the tries cost nothing until a new leader is elected; an ack of a message
 * already taken is answered too, so a try whose answer was lost is harmless.
 *
 * One reply subscription and one sweep timer serve every ack in flight, where a request per
 * ack cost a muxed request object, a timer and two Errors with their stack traces each: the
 * acks of a batch of runs go out in one socket write and cost a publish each.
 */
export class AckConfirmer {
  private readonly inbox: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private readonly tryTimeoutMs: number;
  private readonly firstPauseMs: number;
  private sweeper: NodeJS.Timeout | undefined;
  private counter = 0;
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly options: ConfirmOptions,
  ) {
    this.tryTimeoutMs = options.tryTimeoutMs ?? 2000;
    this.firstPauseMs = options.firstPauseMs ?? 100;
    // The connection's own inbox prefix, as its requests use (NATS permissions may name it).
    this.inbox = createInbox((nc as NatsConnection & { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.inbox}.*`, { callback: (error, msg) => (error ? undefined : this.answered(msg)) });
  }

  /** Resolves whether JetStream confirmed the ack within `withinMs` (false once closed). */
  confirm(reply: string, payload: Uint8Array): Promise<boolean> {
    if (this.closed || this.nc.isClosed()) return Promise.resolve(false);
    return new Promise((resolve) => {
      const token = (++this.counter).toString(36);
      const now = Date.now();
      const entry: Pending = {
        reply,
        payload,
        replyTo: `${this.inbox}.${token}`,
        resolve,
        giveUpAt: now + this.options.withinMs,
        answerBy: now + this.tryTimeoutMs,
        retryAt: Infinity,
        pauseMs: this.firstPauseMs,
      };
      this.pending.set(token, entry);
      this.send(entry);
      this.sweeper ??= setInterval(() => this.sweep(), Math.min(100, this.firstPauseMs));
    });
  }

  /** Stops: acks still waiting resolve unconfirmed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweeper);
    this.sweeper = undefined;
    for (const entry of this.pending.values()) entry.resolve(false);
    this.pending.clear();
    if (!this.nc.isClosed()) this.sub.unsubscribe();
  }

  private send(entry: Pending): void {
    try {
      this.nc.publish(entry.reply, entry.payload, { reply: entry.replyTo });
    } catch {
      // A connection draining or closed: the sweep settles it.
    }
  }

  private answered(msg: Msg): void {
    const token = msg.subject.slice(this.inbox.length + 1);
    const entry = this.pending.get(token);
    if (!entry) return; // an answer to a try already settled
    if (!isRefusal(msg)) {
      this.settle(token, entry, true);
      return;
    }
    if (entry.answerBy !== Infinity) this.failedTry(token, entry, Date.now());
  }

  /** A try refused or unanswered: the next one after a pause, or none if the time is spent. */
  private failedTry(token: string, entry: Pending, now: number): void {
    if (now + entry.pauseMs >= entry.giveUpAt) {
      this.settle(token, entry, false);
      return;
    }
    entry.answerBy = Infinity;
    entry.retryAt = now + entry.pauseMs;
    entry.pauseMs = Math.min(1000, entry.pauseMs * 2);
  }

  private settle(token: string, entry: Pending, confirmed: boolean): void {
    this.pending.delete(token);
    entry.resolve(confirmed);
    if (this.pending.size === 0) {
      clearInterval(this.sweeper);
      this.sweeper = undefined;
    }
  }

  private sweep(): void {
    if (this.nc.isClosed()) {
      this.close();
      return;
    }
    const now = Date.now();
    for (const [token, entry] of this.pending) {
      if (now >= entry.retryAt) {
        entry.retryAt = Infinity;
        entry.answerBy = now + this.tryTimeoutMs;
        this.send(entry);
      } else if (now >= entry.answerBy) this.failedTry(token, entry, now);
    }
  }
}
