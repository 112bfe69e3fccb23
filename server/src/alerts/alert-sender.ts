import type pg from "pg";
import { Agent, request } from "undici";
import { createGuardedConnector, RefusedDestinationError, type Allowlist } from "../executor/http-guard.js";
import { channelRequest } from "./alert-notification.js";
import { claimDue, markAttemptFailed, markSent, type ClaimedDelivery } from "./alert-store.js";

/** Attempts per delivery before it is given up (FAILED). */
export const MAX_DELIVERY_ATTEMPTS = 8;
/** How long one attempt may take. */
const SEND_TIMEOUT_MS = 10_000;
/** Deliveries sent per pass at most. */
const PER_PASS = 32;

/** The wait before retry n (1-based): 1 s, 2 s, 4 s, ... at most 5 minutes. */
export function retryDelayMs(attempt: number): number {
  return Math.min(1000 * 2 ** (attempt - 1), 300_000);
}

export type DeliveryOutcome = "sent" | "retry" | "failed";

/**
 * Sends due deliveries: a POST through the same destination guard as the http executor
 * (non-public addresses only through CHIME_HTTP_ALLOWLIST; redirects are not followed),
 * recorded as sent, retried with backoff, or given up. A delivery is claimed while sent,
 * so several scheduler processes never send one twice at once.
 */
export function createAlertSender(pool: pg.Pool, allowlist: Allowlist, onOutcome: (outcome: DeliveryOutcome) => void) {
  const agent = new Agent({ connect: createGuardedConnector(allowlist, { timeoutMs: SEND_TIMEOUT_MS }), connections: 8 });

  async function send(delivery: ClaimedDelivery): Promise<void> {
    const outgoing = channelRequest(delivery.kind, delivery.payload, delivery.secret, Math.floor(Date.now() / 1000));
    let failure: string;
    let retryable = true;
    try {
      const response = await request(delivery.url, {
        method: "POST",
        body: outgoing.body,
        headers: outgoing.headers,
        dispatcher: agent,
        signal: AbortSignal.timeout(SEND_TIMEOUT_MS),
      });
      await response.body.dump().catch(() => undefined);
      if (response.statusCode >= 200 && response.statusCode < 300) {
        await markSent(pool, delivery.id);
        onOutcome("sent");
        return;
      }
      failure = `HTTP ${response.statusCode}`;
    } catch (error) {
      failure = (error as Error).message || String(error);
      // A destination the guard refuses stays refused: retrying cannot help.
      retryable = !(error instanceof RefusedDestinationError || (error as Error).cause instanceof RefusedDestinationError);
    }
    const attempt = delivery.attempts + 1;
    const retry = retryable && attempt < MAX_DELIVERY_ATTEMPTS ? retryDelayMs(attempt) : undefined;
    await markAttemptFailed(pool, delivery.id, failure, retry);
    onOutcome(retry === undefined ? "failed" : "retry");
  }

  return {
    /** One pass; returns the number of deliveries attempted. */
    async pass(): Promise<number> {
      const due = await claimDue(pool, PER_PASS, SEND_TIMEOUT_MS * 3);
      await Promise.all(due.map(send));
      return due.length;
    },
    close: () => agent.close(),
  };
}
