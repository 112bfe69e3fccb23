import { performance } from "node:perf_hooks";

/**
 * Notices when this process's event loop did not run for a while (SIGSTOP, a VM freeze, a
 * long GC): messages read from the socket just after such a stall may have been delivered
 * long before, so their receipt time says nothing about their ack deadline.
 *
 * After a stall, libuv may hand the socket's data to us before the timers run, so a stall
 * is seen both by the timer (a gap between its ticks) and at a read (the timer is overdue).
 */
export class StallWatch {
  private lastTick = performance.now();
  private lastStallAt = Number.NEGATIVE_INFINITY;
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly stallMs: number) {
    const tickMs = Math.max(10, Math.floor(stallMs / 5));
    this.timer = setInterval(() => {
      const now = performance.now();
      if (now - this.lastTick > stallMs) this.lastStallAt = now;
      this.lastTick = now;
    }, tickMs);
    this.timer.unref();
  }

  /** Whether the loop stalled at some point after `since` (a performance.now() time), or is stalled right now. */
  stalledSince(since: number): boolean {
    return performance.now() - this.lastTick > this.stallMs || this.lastStallAt >= since;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
