import type { PendingRun } from "./run-publisher.js";

/**
 * Runs the leader wrote ahead of their fire time (its lookahead), held in memory and
 * published when they fall due: one timer, for the earliest. Writing a run is most of the
 * cost of dispatching it; doing that before the fire time leaves only the publish at it.
 *
 * Lost with the process or the leadership: such runs stay QUEUED without a dispatch
 * time, and the next leader's reconciler publishes them.
 */
export function createReleaseQueue(options: { publish: (runs: PendingRun[]) => Promise<unknown>; now: () => number }) {
  // The scheduler's clock (Postgres' time on the monotonic clock): a timer armed for
  // `scheduled - now()` fires at the scheduled time whatever the wall clock does.
  const now = options.now;
  /** Sorted by scheduled time from `head` on. */
  let queue: PendingRun[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  let timerAt = Infinity;
  const publishing = new Set<Promise<unknown>>();

  const at = (run: PendingRun) => run.scheduledTime.getTime();

  function arm(): void {
    const next = head < queue.length ? at(queue[head]) : Infinity;
    if (next === timerAt) return;
    clearTimeout(timer);
    timer = undefined;
    timerAt = next;
    if (next !== Infinity) timer = setTimeout(release, Math.max(0, next - now()));
  }

  function release(): void {
    timer = undefined;
    timerAt = Infinity;
    const t = now();
    let end = head;
    while (end < queue.length && at(queue[end]) <= t) end++;
    if (end > head) {
      const due = queue.slice(head, end);
      head = end;
      // Compact once the released prefix dominates, so the array does not grow without bound.
      if (head > 1024 && head * 2 > queue.length) {
        queue = queue.slice(head);
        head = 0;
      }
      const sending = options.publish(due).finally(() => publishing.delete(sending));
      publishing.add(sending);
    }
    arm();
  }

  return {
    /** Holds `runs` until their scheduled times. */
    add(runs: PendingRun[]): void {
      if (runs.length === 0) return;
      const incoming = [...runs].sort((a, b) => at(a) - at(b));
      const waiting = queue.slice(head);
      // A pass's runs are mostly later than those already waiting: usually an append.
      if (waiting.length === 0 || at(waiting[waiting.length - 1]) <= at(incoming[0])) queue = waiting.concat(incoming);
      else queue = merge(waiting, incoming, at);
      head = 0;
      arm();
    },
    /** Drops what is waiting (the leadership ended); returns how many runs were dropped. */
    clear(): number {
      const dropped = queue.length - head;
      queue = [];
      head = 0;
      arm();
      return dropped;
    },
    /** Settles when every publish started so far has settled. */
    async drain(): Promise<void> {
      while (publishing.size > 0) await Promise.allSettled([...publishing]);
    },
    get size(): number {
      return queue.length - head;
    },
  };
}

function merge<T>(a: T[], b: T[], key: (item: T) => number): T[] {
  const out: T[] = new Array(a.length + b.length);
  let i = 0;
  let j = 0;
  let k = 0;
  while (i < a.length && j < b.length) out[k++] = key(a[i]) <= key(b[j]) ? a[i++] : b[j++];
  while (i < a.length) out[k++] = a[i++];
  while (j < b.length) out[k++] = b[j++];
  return out;
}

export type ReleaseQueue = ReturnType<typeof createReleaseQueue>;
