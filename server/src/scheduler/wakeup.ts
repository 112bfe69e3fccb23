import pg from "pg";
import type { Logger } from "../logger.js";

const CHANNEL = "chime_jobs_changed";

/**
 * Tells the scheduler leader that jobs changed, so it re-reads the earliest due time
 * instead of sleeping past it. The NOTIFY runs in its own statement after the change
 * committed (never inside the writing transaction, where it would serialise commits),
 * and concurrent signals coalesce into one NOTIFY in flight at a time.
 */
export function createWakeupSender(pool: pg.Pool, local: () => void) {
  let inFlight = false;
  let pending = false;
  const send = () => {
    inFlight = true;
    pending = false;
    pool
      .query(`SELECT pg_notify('${CHANNEL}', '')`)
      .catch(() => undefined)
      .finally(() => {
        inFlight = false;
        if (pending) send();
      });
  };
  return () => {
    local();
    if (inFlight) pending = true;
    else send();
  };
}

/** Listens for job changes on a dedicated connection (reconnecting) and calls `onWake`. */
export function createWakeupListener(databaseUrl: string, onWake: () => void, logger: Logger) {
  let client: pg.Client | undefined;
  let stopped = false;
  let retry: NodeJS.Timeout | undefined;
  const listen = async () => {
    if (stopped) return;
    const next = new pg.Client({ connectionString: databaseUrl, keepAlive: true, application_name: "chime-wakeup" });
    next.on("notification", () => onWake());
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
