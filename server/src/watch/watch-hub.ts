import type pg from "pg";
import type { Logger } from "../logger.js";
import { HorizonTracker, readEvents, readEventWriters, readLastCursor, type WatchEvent } from "./event-source.js";

/**
 * One tail of the event tables per server replica, fanned out in memory to every
 * watcher on that replica. The tail polls (one short query when nothing happened), reads
 * only up to the commit horizon (see event-source.ts), and hands each batch to the
 * subscribers whose filter matches, in cursor order. A subscriber has a bounded queue:
 * one that falls further behind is cut off (overflowed) and its queue dropped, so a
 * reader that stops reading costs a bounded amount of memory; it resumes from Postgres.
 */

export interface SubscriberInit {
  /** Index keys: the hub only offers a subscriber the events of these jobs (or queues). */
  jobIds?: Iterable<string>;
  queues?: Iterable<string>;
  /** Whether job change events are wanted too (WatchJob). */
  jobChanges?: boolean;
  matches(event: WatchEvent): boolean;
  /** Events at or below this cursor are not queued (the subscriber has them already). */
  after?: number;
}

export interface Subscriber {
  /** The hub position when the subscriber joined: every later event it matches is queued. */
  readonly joinedAt: number;
  readonly queue: WatchEvent[];
  /** Set when the queue overflowed; the subscriber is no longer registered. */
  overflowed: boolean;
  /** Resolves (once) when something was queued, the queue overflowed, or the hub stopped. */
  changed(signal: AbortSignal, timeoutMs: number): Promise<void>;
}

interface SubscriberState extends Subscriber {
  init: SubscriberInit;
  after: number;
  wake?: () => void;
  registered: boolean;
}

export interface WatchHubOptions {
  pool: pg.Pool;
  logger: Logger;
  pollMs: number;
  /** Events a subscriber may have queued before it is cut off. */
  bufferLimit: number;
  /** Rows read per tail query. */
  batchSize?: number;
  /** Poll interval while no stream is open (the position only follows the horizon then). */
  idlePollMs?: number;
}

export interface WatchHubStats {
  subscribers: number;
  bufferedEvents: number;
  position: number;
  overflows: number;
  eventsRead: number;
}

export function startWatchHub(options: WatchHubOptions) {
  const { pool, logger } = options;
  const batchSize = options.batchSize ?? 2000;
  const byJob = new Map<string, Set<SubscriberState>>();
  const byQueue = new Map<string, Set<SubscriberState>>();
  const everything = new Set<SubscriberState>();
  const all = new Set<SubscriberState>();
  let jobWatchers = 0;
  let position = -1;
  let tracker: HorizonTracker | undefined;
  let stopped = false;
  let overflows = 0;
  let eventsRead = 0;
  let readyResolve!: () => void;
  const ready = new Promise<void>((resolve) => (readyResolve = resolve));
  let sleepWake: (() => void) | undefined;
  const idlePollMs = Math.max(options.pollMs, options.idlePollMs ?? 1000);
  /** Resolved after the next tick completes (see sync()). */
  let afterTick: Array<() => void> = [];

  function indexOf(sub: SubscriberState): Array<Set<SubscriberState>> {
    const sets: Array<Set<SubscriberState>> = [];
    const jobIds = sub.init.jobIds ? [...sub.init.jobIds] : undefined;
    const queues = sub.init.queues ? [...sub.init.queues] : undefined;
    if (jobIds?.length) {
      for (const id of jobIds) {
        let set = byJob.get(id);
        if (!set) byJob.set(id, (set = new Set()));
        sets.push(set);
      }
    } else if (queues?.length) {
      for (const q of queues) {
        let set = byQueue.get(q);
        if (!set) byQueue.set(q, (set = new Set()));
        sets.push(set);
      }
    } else sets.push(everything);
    return sets;
  }

  function unregister(sub: SubscriberState) {
    if (!sub.registered) return;
    sub.registered = false;
    all.delete(sub);
    if (sub.init.jobChanges) jobWatchers--;
    for (const id of sub.init.jobIds ?? []) {
      const set = byJob.get(id);
      set?.delete(sub);
      if (set?.size === 0) byJob.delete(id);
    }
    for (const q of sub.init.queues ?? []) {
      const set = byQueue.get(q);
      set?.delete(sub);
      if (set?.size === 0) byQueue.delete(q);
    }
    everything.delete(sub);
  }

  function dispatch(events: WatchEvent[]) {
    const touched = new Set<SubscriberState>();
    const offer = (sub: SubscriberState, event: WatchEvent) => {
      if (!sub.registered || event.cursor <= sub.after) return;
      if (event.change !== 0 && !sub.init.jobChanges) return;
      if (!sub.init.matches(event)) return;
      if (sub.queue.length >= options.bufferLimit) {
        // Cut off: drop what it had queued (it resumes from Postgres) and stop offering.
        sub.overflowed = true;
        sub.queue.length = 0;
        overflows++;
        unregister(sub);
      } else sub.queue.push(event);
      touched.add(sub);
    };
    for (const event of events) {
      for (const sub of byJob.get(event.jobId) ?? []) offer(sub, event);
      for (const sub of byQueue.get(event.queue) ?? []) offer(sub, event);
      for (const sub of everything) offer(sub, event);
    }
    for (const sub of touched) sub.wake?.();
  }

  async function tick(): Promise<void> {
    if (!tracker) {
      // Start live: the first horizon is where this replica's subscribers begin.
      const last = await readLastCursor(pool);
      const t = new HorizonTracker(0);
      const writers = await readEventWriters(pool);
      t.add({ lastCursor: last, writers });
      if (t.horizon < last) {
        // Writers were in flight: wait for them like any later sample would.
        for (;;) {
          await sleep(options.pollMs);
          if (stopped) return;
          t.add({ lastCursor: last, writers: await readEventWriters(pool) });
          if (t.horizon >= last) break;
        }
      }
      tracker = new HorizonTracker(last);
      position = last;
      readyResolve();
      return;
    }
    const last = await readLastCursor(pool);
    if (last <= position) return;
    const horizon = tracker.add({ lastCursor: last, writers: await readEventWriters(pool) });
    while (horizon > position && !stopped) {
      if (all.size === 0) {
        // Nobody to offer them to: skip reading (a subscriber joining later starts here and
        // reads anything older from Postgres itself). Under load this read is most of the
        // tail's cost, for every event of every run.
        position = horizon;
        break;
      }
      const events = await readEvents(pool, position, horizon, batchSize);
      eventsRead += events.length;
      // A full page ends at its last cursor; a short one covers the range up to the horizon
      // (the cursors in between were rolled back).
      const upTo = events.length === batchSize ? events[events.length - 1].cursor : horizon;
      dispatch(events);
      position = upTo;
    }
  }

  function sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        sleepWake = undefined;
        resolve();
      }
      sleepWake = done;
    });
  }

  const loop = (async () => {
    let failures = 0;
    while (!stopped) {
      const waiting = afterTick;
      afterTick = [];
      try {
        await tick();
        failures = 0;
      } catch (error) {
        failures++;
        if (failures === 1 || failures % 100 === 0) logger.warn({ err: error, failures }, "watch tail cannot read events; retrying");
      }
      for (const resolve of waiting) resolve();
      if (stopped) break;
      // Without streams nobody waits for the tail: a slow poll keeps an idle server idle.
      const interval = afterTick.length > 0 ? 0 : all.size > 0 ? options.pollMs : idlePollMs;
      await sleep(failures ? Math.min(5000, options.pollMs * 2 ** Math.min(failures, 6)) : interval);
    }
  })();

  return {
    /** Resolves once the tail has its first position. */
    ready,
    /** The cursor up to which every event was offered to the subscribers registered then. */
    get position() {
      return position;
    },
    /** Registers a subscriber at the current position (synchronously: no event can slip between). */
    subscribe(init: SubscriberInit): Subscriber {
      const sub: SubscriberState = {
        init,
        joinedAt: position,
        after: Math.max(position, init.after ?? -1),
        queue: [],
        overflowed: false,
        registered: true,
        changed(signal, timeoutMs) {
          if (sub.queue.length || sub.overflowed || stopped || signal.aborted) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              signal.removeEventListener("abort", done);
              sub.wake = undefined;
              resolve();
            };
            const timer = setTimeout(done, timeoutMs);
            signal.addEventListener("abort", done, { once: true });
            sub.wake = done;
          });
        },
      };
      for (const set of indexOf(sub)) set.add(sub);
      all.add(sub);
      if (init.jobChanges) jobWatchers++;
      // The first stream ends the slow idle poll: the tail may be asleep for up to idlePollMs.
      if (all.size === 1) sleepWake?.();
      return sub;
    },
    unsubscribe(sub: Subscriber) {
      const state = sub as SubscriberState;
      unregister(state);
      state.queue.length = 0;
      state.wake?.();
    },
    stats(): WatchHubStats {
      let bufferedEvents = 0;
      for (const sub of all) bufferedEvents += sub.queue.length;
      return { subscribers: all.size, bufferedEvents, position, overflows, eventsRead };
    },
    /** Open WatchJob streams. */
    get jobWatchers() {
      return jobWatchers;
    },
    /** True once stop() was called: subscribers should end (resumably). */
    get stopped() {
      return stopped;
    },
    /**
     * Resolves once a tick that started after this call has completed, so `position` is as
     * fresh as under steady polling. Immediate while streams are open (the tail polls at
     * full rate then); otherwise wakes the slow idle poll.
     */
    sync(): Promise<void> {
      if (stopped || all.size > 0) return Promise.resolve();
      return new Promise<void>((resolve) => {
        afterTick.push(resolve);
        sleepWake?.();
      });
    },
    /** Polls now instead of at the next interval (e.g. after this replica wrote events). */
    wake() {
      sleepWake?.();
    },
    async stop(): Promise<void> {
      stopped = true;
      sleepWake?.();
      for (const sub of [...all]) {
        unregister(sub);
        sub.wake?.();
      }
      await loop;
      for (const resolve of afterTick) resolve();
      afterTick = [];
    },
  };
}

export type WatchHub = ReturnType<typeof startWatchHub>;
