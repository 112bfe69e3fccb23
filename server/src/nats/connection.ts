import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, type NatsConnection, type NodeConnectionOptions } from "@nats-io/transport-node";
import type { Logger } from "../logger.js";

/**
 * Keeps a NATS connection: it is made in the background (the server starts even when
 * NATS is down, and reports NOT_SERVING until it is reachable) and reconnects forever.
 */
/** Between attempts to reach NATS before the first connection. */
const FIRST_CONNECT_RETRY_MS = 500;

/** How the server authenticates to NATS and checks its certificate, besides what the URL says (user:password@). */
export interface NatsSecurity {
  /** PEM CA that signed the NATS server's certificate (CHIME_NATS_CA_FILE); tls:// URLs otherwise trust the system's CAs. */
  caFile?: string;
  /** A NATS credentials file (JWT and NKey seed, CHIME_NATS_CREDS_FILE). */
  credsFile?: string;
}

/**
 * NATS_URL's servers (comma-separated: nats.js tries them in turn), without the user and
 * password any of them carries, which become nats.js options (it does not read them from
 * the URL itself).
 */
function urlCredentials(url: string): Partial<NodeConnectionOptions> & { servers: string[] } {
  let credentials: { user: string; pass: string } | undefined;
  const servers = url.split(",").map((server) => {
    try {
      const parsed = new URL(server.trim());
      if (!parsed.username) return server.trim();
      credentials ??= { user: decodeURIComponent(parsed.username), pass: decodeURIComponent(parsed.password) };
      parsed.username = "";
      parsed.password = "";
      return parsed.toString().replace(/\/$/, "");
    } catch {
      return server.trim();
    }
  });
  return { ...credentials, servers };
}

function securityOptions(security: NatsSecurity): Partial<NodeConnectionOptions> {
  return {
    ...(security.caFile ? { tls: { caFile: security.caFile } } : {}),
    ...(security.credsFile ? { authenticator: credsAuthenticator(readFileSync(security.credsFile)) } : {}),
  };
}

export function createNatsHolder(url: string, name: string, logger: Logger, security: NatsSecurity = {}) {
  let connection: NatsConnection | undefined;
  let closed = false;
  let wakeRetry: (() => void) | undefined;
  const ready = (async () => {
    // Attempts of our own until the first connection (nats.js's waitOnFirstConnect retries
    // forever and cannot be cancelled: a server whose NATS was never reachable could not
    // stop); after it, nats.js reconnects forever.
    for (let attempt = 1; !closed; attempt++) {
      try {
        const nc = await connect({
          ...securityOptions(security),
          ...urlCredentials(url),
          name,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 500,
          // Async traces capture a stack (an Error) per request: a tenth of the leader's CPU
          // when it publishes thousands of runs per second.
          noAsyncTraces: true,
        });
        if (closed) {
          await nc.close();
          return undefined;
        }
        connection = nc;
        logger.info({ server: nc.getServer() }, "connected to NATS");
        void (async () => {
          for await (const status of nc.status()) {
            if (status.type === "disconnect" || status.type === "reconnect") logger.warn({ nats: status.type }, "NATS connection changed");
          }
        })().catch(() => undefined);
        return nc;
      } catch (error) {
        if (attempt === 1 || attempt % 60 === 0) logger.error({ err: error, attempt }, "cannot connect to NATS yet; retrying");
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, FIRST_CONNECT_RETRY_MS);
          wakeRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
      }
    }
    return undefined;
  })();
  return {
    current: () => connection,
    /** The connection once made; undefined when the holder was closed before NATS was reached. */
    ready,
    /** Stops trying to reach NATS if it was never reached (ready then settles as undefined); a connection made stays. */
    giveUp() {
      if (connection) return;
      closed = true;
      wakeRetry?.();
    },
    async close() {
      closed = true;
      wakeRetry?.();
      const nc = connection ?? (await ready);
      if (nc && !nc.isClosed()) await nc.drain().catch(() => nc.close());
    },
  };
}

export type NatsHolder = ReturnType<typeof createNatsHolder>;
