/** What a heartbeat needs of a JetStream message. */
export interface Beating {
  working(): void;
}

/**
 * Tells JetStream every message the worker holds (waiting for a slot, running, or being
 * reported) is still alive, so none is redelivered before it is acked. One timer for all of
 * them rather than one per run: a no-op run at thousands per second should not pay for a
 * timer of its own. A message is beaten when its last beat is `everyMs` old, checked every
 * quarter of that, so no message goes longer than 1.25 × `everyMs` without one.
 *
 * A message whose last beat (or, before its first, the earliest time JetStream can have
 * delivered it) is `staleAfterMs` old may have passed its ack deadline — the process was
 * paused (SIGSTOP, a VM freeze) — and JetStream may have handed the run to another worker.
 * It is not beaten any more (a beat must not keep alive a delivery that is superseded) and
 * `onStale` is told, so the worker neither starts nor reports it.
 */
export class Heartbeats<M extends Beating = Beating> {
  private readonly lastBeat = new Map<M, number>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly everyMs: number,
    private readonly now: () => number = Date.now,
    private readonly staleAfterMs = Number.POSITIVE_INFINITY,
    private readonly onStale: (msg: M) => void = () => undefined,
  ) {}

  /** Holds a message; `since` is when it was last known alive (by default, now). */
  add(msg: M, since = this.now()): void {
    this.lastBeat.set(msg, since);
    if (!this.timer) {
      this.timer = setInterval(() => this.beat(), Math.max(25, Math.floor(this.everyMs / 4)));
      this.timer.unref();
    }
  }

  /** Whether the message is held and its ack deadline cannot have passed. */
  isLive(msg: M): boolean {
    const last = this.lastBeat.get(msg);
    return last !== undefined && this.now() - last < this.staleAfterMs;
  }

  /** A beat the handler asked for itself; at most one per `minGapMs`. */
  touch(msg: M, minGapMs = 100): void {
    const last = this.lastBeat.get(msg);
    if (last === undefined) return;
    const now = this.now();
    if (now - last < minGapMs) return;
    if (now - last >= this.staleAfterMs) return this.expire(msg);
    this.lastBeat.set(msg, now);
    msg.working();
  }

  delete(msg: M): void {
    this.lastBeat.delete(msg);
    if (this.lastBeat.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  get size(): number {
    return this.lastBeat.size;
  }

  /** Beats every message whose last beat is `everyMs` old (the timer calls this). */
  beat(): void {
    const now = this.now();
    const due = now - this.everyMs;
    for (const [msg, last] of this.lastBeat) {
      if (now - last >= this.staleAfterMs) this.expire(msg);
      else if (last <= due) {
        this.lastBeat.set(msg, now);
        msg.working();
      }
    }
  }

  private expire(msg: M): void {
    this.delete(msg);
    this.onStale(msg);
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
    this.lastBeat.clear();
  }
}
