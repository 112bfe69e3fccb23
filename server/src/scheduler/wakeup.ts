import pg from "pg";
import type { Logger } from "../logger.js";

const CHANNEL = "chime_jobs_changed";

/**
 * Tells the scheduler leader that a job may now fire at `at`, earlier than it knew, so it
 * re-reads the earliest due time instead of sleeping past it; a leader that wakes before
 * `at` anyway stays asleep (a job created for next month costs it nothing). The NOTIFY runs
 * in its own statement after the change committed (never inside the writing transaction,
 * where it would serialise commits), and concurrent signals coalesce into one NOTIFY in
 * flight at a time, carrying the earliest time among them.
 */
export function createWakeupSender(pool: pg.Pool, local: (at: Date) => void) {
  let inFlight = false;
  let pending: number | undefined;
  const send = (at: number) => {
    inFlight = true;
    pending = undefined;
    pool
      .query("SELECT pg_notify($1, $2)", [CHANNEL, String(at)])
      .catch(() => undefined)
      .finally(() => {
        inFlight = false;
        if (pending !== undefined) send(pending);
      });
  };
  return (at: Date) => {
    local(at);
    if (inFlight) pending = Math.min(pending ?? Infinity, at.getTime());
    else send(at.getTime());
  };
}

/** The fire time a wakeup's payload carries (milliseconds since the epoch), or undefined: any time. */
function wakeTime(payload: string | undefined): Date | undefined {
  const ms = Number(payload);
  return payload && Number.isFinite(ms) ? new Date(ms) : undefined;
}

/**
 * Listens for job changes on a dedicated connection (reconnecting) and calls `onWake` with
 * the time the changed job may fire, or with nothing when it cannot know (after connecting).
 */
export function createWakeupListener(databaseUrl: string, onWake: (at?: Date) => void, logger: Logger) {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const listen = async () => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: databaseUrl, keepAlive: true, application_name: "chime-wakeup" });
    next.on("notification", (message) => onWake(wakeTime(message.payload)));
    next.on("error", () => undefined);
    next.on("end", () => {
      if (client !== next) return;
      client = undefined;
      if (!stopped) retry = setTimeout(() => void listen(), 500);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
      client = next;
      // Changes made while we were not listening must not be slept through.
      onWake();
    } catch (error) {
      logger.debug({ err: error }, "wakeup listener connect failed; retrying");
      await next.end().catch(() => undefined);
      if (!stopped) retry = setTimeout(() => void listen(), 500);
    }
  };
  void listen();
  return {
    async stop() {
      stopped = true;
      clearTimeout(retry);
      await client?.end().catch(() => undefined);
    },
  };
}
