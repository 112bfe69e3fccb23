/**
 * The runs this worker ended (their final status stored in JetStream), remembered for a
 * while so that a redelivery of one is acked instead of run again. JetStream redelivers a
 * run whose ack it lost: a consumer leader that moved before the ack reached it, an ack
 * confirmed too late. The server would refuse that attempt's result, but the handler would
 * have run twice; this keeps a run ended here from running here again.
 *
 * Bounded both ways: an entry older than `keepMs` is forgotten (a redelivery comes within
 * about an ack wait or two of the end), and past `capacity` the oldest go first, so the
 * memory stays flat at any rate.
 */
export class EndedRuns {
  /** Run id → when it ended, oldest first (a Map keeps insertion order). */
  private readonly ended = new Map<string, number>();

  constructor(
    private readonly keepMs: number,
    private readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Records that the run's final status is stored. */
  add(runId: string): void {
    const now = this.now();
    this.ended.delete(runId);
    this.ended.set(runId, now);
    this.prune(now);
  }

  /** Whether this worker ended the run within the last `keepMs`. */
  has(runId: string): boolean {
    const endedAt = this.ended.get(runId);
    return endedAt !== undefined && this.now() - endedAt <= this.keepMs;
  }

  get size(): number {
    return this.ended.size;
  }

  private prune(now: number): void {
    for (const [runId, endedAt] of this.ended) {
      if (this.ended.size <= this.capacity && now - endedAt <= this.keepMs) break;
      this.ended.delete(runId);
    }
  }
}
