import type { JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";

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

/**
 * Sends an acknowledgement (`+ACK`, or a `-NAK` with its delay) to a delivery's reply subject
 * as a request and tries again until JetStream answers it: the consumer's leader answers
 * once it has taken the ack. A plain ack is fire-and-forget, and one sent while the
 * consumer's leader is moving (its NATS node died) reaches nobody: JetStream then redelivers
 * the run after its ack wait and it executes a second time. Without a leader the request
 * fails at once ("no responders"), so the tries cost nothing until a new leader is elected;
 * an ack of a message already taken is answered too, so a try whose answer was lost is
 * harmless. Resolves whether it was confirmed within `withinMs`.
 */
export async function confirmAck(nc: NatsConnection, reply: string, payload: Uint8Array, options: ConfirmOptions): Promise<boolean> {
  const giveUpAt = Date.now() + options.withinMs;
  let pauseMs = options.firstPauseMs ?? 100;
  for (;;) {
    if (nc.isClosed()) return false;
    try {
      await nc.request(reply, payload, { timeout: options.tryTimeoutMs ?? 2000 });
      return true;
    } catch {
      if (Date.now() + pauseMs >= giveUpAt) return false;
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      pauseMs = Math.min(1000, pauseMs * 2);
    }
  }
}
