import type pg from "pg";
import type { Logger } from "../logger.js";

/**
 * The time the scheduler and the API decide with: milliseconds since the epoch in Postgres'
 * time. The server's own wall clock can be stepped (NTP, a VM resumed, an operator); a fire
 * decided from it runs early or stalls. Postgres is the source of truth for time too.
 */
export interface Clock {
  now(): number;
}

/** Where a clock reads this process's time: the monotonic clock, and the wall clock only to report skew. */
export interface LocalTime {
  monotonic: () => number;
  wall: () => number;
}

const PROCESS_TIME: LocalTime = { monotonic: () => performance.now(), wall: () => Date.now() };

export interface DatabaseClockOptions {
  pool: pg.Pool;
  /** How often Postgres' clock is read again. */
  intervalMs: number;
  /** A wall clock further than this from Postgres' is reported (log, metric, status). */
  maxSkewMs: number;
  logger: Logger;
  /** Told the wall clock's skew after each reading (ms; positive: the wall clock is ahead). */
  onSkew?: (skewMs: number, skewed: boolean) => void;
  /** Tests substitute a stepped wall clock or a fake monotonic one. */
  local?: LocalTime;
}

export interface DatabaseClock extends Clock {
  /** Reads Postgres' clock once, then keeps reading it every interval. */
  start(): Promise<void>;
  stop(): void;
  /** Reads Postgres' clock now (the loop does this every interval). */
  sample(): Promise<void>;
  /** The wall clock minus Postgres' clock at the last reading, in ms. */
  skewMs(): number;
  skewed(): boolean;
}

/**
 * Postgres' time carried by the monotonic clock: each reading of `clock_timestamp()` gives
 * the offset between the two, and `now()` is the monotonic clock plus that offset, so a step
 * of the wall clock changes nothing. The offset is the reading's lower bound (Postgres' time
 * taken as read at the instant the answer arrived), so this clock is never ahead of
 * Postgres: a run released at `now() >= scheduled` is never early, at worst late by a round
 * trip. A tighter earlier offset is kept while new readings agree with it.
 */
export function createDatabaseClock(options: DatabaseClockOptions): DatabaseClock {
  const local = options.local ?? PROCESS_TIME;
  let offset: number | undefined;
  let skew = 0;
  let skewed = false;
  let timer: NodeJS.Timeout | undefined;

  async function sample(): Promise<void> {
    const sent = local.monotonic();
    const { rows } = await options.pool.query<{ ms: number }>("SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms");
    const received = local.monotonic();
    const wall = local.wall();
    const database = rows[0].ms;
    const lower = database - received;
    const upper = database - sent;
    // A reading consistent with the current offset keeps it (it may come from a quicker round
    // trip); one that is not (Postgres' clock itself moved, or drift) replaces it.
    if (offset === undefined || offset < lower || offset > upper) offset = lower;
    skew = wall - (database + (received - sent) / 2);
    const nowSkewed = Math.abs(skew) > options.maxSkewMs;
    if (nowSkewed && !skewed) {
      options.logger.warn({ skewMs: Math.round(skew), maxSkewMs: options.maxSkewMs }, "this server's clock disagrees with the database's; the scheduler keeps the database's time");
    } else if (!nowSkewed && skewed) {
      options.logger.info({ skewMs: Math.round(skew) }, "this server's clock agrees with the database's again");
    }
    skewed = nowSkewed;
    options.onSkew?.(skew, skewed);
  }

  const loop = () => {
    timer = setTimeout(() => {
      sample()
        .catch((error: unknown) => options.logger.debug({ err: error }, "reading the database's clock failed; keeping the last offset"))
        .finally(() => {
          if (timer) loop();
        });
    }, options.intervalMs);
  };

  return {
    // Until the first reading, the wall clock (start() reads before anything is served).
    now: () => (offset === undefined ? local.wall() : local.monotonic() + offset),
    async start() {
      await sample();
      loop();
    },
    stop() {
      clearTimeout(timer);
      timer = undefined;
    },
    sample,
    skewMs: () => skew,
    skewed: () => skewed,
  };
}

/** A clock a test sets by hand. */
export function createManualClock(startMs: number) {
  let current = startMs;
  return {
    now: () => current,
    set(ms: number) {
      current = ms;
    },
    advance(ms: number) {
      current += ms;
    },
  };
}
