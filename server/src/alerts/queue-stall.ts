import type { QueueConsumerStats } from "../nats/queue-consumers.js";

/** A queue's current stall as stored (queue_stalls): since when, and whether it was notified. */
export interface StallState {
  since: Date;
  notified: boolean;
}

/** A notification a judgement calls for. */
export interface StallNotice {
  waiting: number;
  stalledMs: number;
  /** The stall ended (after it was notified): runs are consumed again, or none wait. */
  recovered: boolean;
}

export interface StallJudgement {
  /** The state to keep; undefined: no stall (the row goes). */
  next: StallState | undefined;
  notice?: StallNotice;
}

/**
 * One look at a queue's JetStream consumer. A queue stalls while runs wait and no worker
 * consumes it: no pull request waiting and nothing delivered unacknowledged (a busy worker
 * holds runs in flight). A stall is notified once, when it has lasted longer than
 * `stallAfterMs`, and its end once more, only if it was notified. Without figures (JetStream
 * not read this time) the state is kept as it was.
 */
export function judgeStall(previous: StallState | undefined, figures: QueueConsumerStats | undefined, now: Date, stallAfterMs: number): StallJudgement {
  if (!figures) return { next: previous };
  const stalled = figures.waiting > 0 && figures.pullRequests === 0 && figures.inFlight === 0;
  if (!stalled) {
    if (!previous?.notified) return { next: undefined };
    return { next: undefined, notice: { waiting: figures.waiting, stalledMs: now.getTime() - previous.since.getTime(), recovered: true } };
  }
  const since = previous?.since ?? now;
  const stalledMs = now.getTime() - since.getTime();
  if (previous?.notified || stalledMs <= stallAfterMs) return { next: { since, notified: previous?.notified ?? false } };
  return { next: { since, notified: true }, notice: { waiting: figures.waiting, stalledMs, recovered: false } };
}
