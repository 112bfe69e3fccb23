import { existsSync } from "node:fs";
import { hostname } from "node:os";
import type { TlsFiles } from "./transport/tls-files.js";
import type { NatsSecurity } from "./nats/connection.js";
import { parseRateLimit, type RateLimit } from "./auth/rate-limit.js";
import { parseCorsOrigins, SAME_ORIGIN_ONLY, type CorsOrigins } from "./transport/cors.js";
import { DEFAULT_DASHBOARD_DIR } from "./transport/dashboard.js";
import { EMPTY_ALLOWLIST, parseAllowlist, type Allowlist } from "./executor/http-guard.js";

/**
 * Configuration from environment variables, validated once at start.
 * Every problem is reported (one line each), not just the first.
 */

export type Role = "api" | "scheduler" | "ingest" | "executor";

export interface ChimeConfig {
  /** Postgres connection string; the database is created when missing. */
  databaseUrl: string;
  /**
   * Postgres for the session-bound connections (the scheduler's advisory lock, LISTEN for
   * wakeups, migrations), when DATABASE_URL goes through a transaction pooler such as
   * PgBouncer (CHIME_DATABASE_DIRECT_URL; default DATABASE_URL).
   */
  databaseDirectUrl: string;
  /** Connections of the query pool (CHIME_DATABASE_POOL_SIZE). */
  databasePoolSize: number;
  /** One NATS URL, or several separated by commas (servers of one cluster). */
  natsUrl: string;
  /** Replicas of every JetStream stream and bucket (CHIME_NATS_REPLICAS; up to the cluster's size). */
  natsReplicas: number;
  /** Prefix of every NATS stream, subject and bucket name this server uses. */
  natsPrefix: string;
  /** gRPC (h2c) port served by grpc-js. 0 picks a free port. */
  grpcPort: number;
  /** Connect + gRPC-Web (HTTP/1.1) port served by connect-node; also /metrics and /healthz. */
  httpPort: number;
  host: string;
  roles: Set<Role>;
  /** Largest accepted job payload, as JSON bytes. */
  maxPayloadBytes: number;
  /** Largest accepted request message. */
  maxMessageBytes: number;
  /** Longest a unary request may take before it is cancelled. */
  requestTimeoutMs: number;
  /** How often health probes Postgres and NATS. */
  healthIntervalMs: number;
  /** Grace period for in-flight requests on SIGTERM. */
  shutdownGraceMs: number;
  logLevel: string;
  /** When set, every RPC must carry "authorization: Bearer <apiToken>" (CHIME_API_TOKEN). */
  apiToken: string;
  /** The built dashboard the api role serves at / on the HTTP port (CHIME_DASHBOARD_DIR). */
  dashboardDir: string;
  /** Names this server in the scheduler leader row and logs. */
  serverId: string;
  /** A leader that cannot confirm its lease this long steps down (and may be evicted). */
  leaderLeaseMs: number;
  /** How often followers try to take the lead and the leader confirms its lease. */
  electionIntervalMs: number;
  /** Due jobs claimed per scheduler transaction. */
  dispatchBatchSize: number;
  /** How far ahead of their fire time the leader writes runs (published at the fire time). */
  dispatchLookaheadMs: number;
  /** A fire time older than this when the scheduler reaches it is a misfire. */
  misfireThresholdMs: number;
  /** A server whose wall clock disagrees with Postgres' by more than this says so (log, metric, GetSchedulerStatus). */
  maxClockSkewMs: number;
  /** How often the leader republishes runs whose publish was never confirmed. */
  reconcileIntervalMs: number;
  /** How long acknowledged runs wait before their dispatch is recorded (a worker's report records it meanwhile). */
  dispatchRecordDelayMs: number;
  /** Run and job events older than this are deleted by the leader. */
  eventRetentionMs: number;
  /** Finished runs that ended longer ago than this are deleted, with the completed one-off and deleted jobs they leave; 0 keeps them. */
  runRetentionMs: number;
  /** How often the leader deletes events past the retention. */
  eventPruneIntervalMs: number;
  /** Non-public destinations the http executor may reach (CHIME_HTTP_ALLOWLIST: CIDRs, addresses, host names). */
  httpAllowlist: Allowlist;
  /** Http requests the executor role runs at once. */
  executorConcurrency: number;
  /** How often the api role re-signals running runs whose cancellation was requested. */
  cancelSweepMs: number;
  /** How often the scheduler role matches run ends to alert rules, sends due notifications and rolls up queue stats. */
  backgroundIntervalMs: number;
  /** An idle watch stream gets a Keepalive this often. */
  watchKeepaliveMs: number;
  /** How often each replica's watch tail polls the event tables. */
  watchPollMs: number;
  /** Events a watch stream may have queued; a reader further behind is ended (resumable). */
  watchBufferEvents: number;
  /** TLS on both ports (CHIME_TLS_CERT_FILE, CHIME_TLS_KEY_FILE; mTLS with CHIME_TLS_CLIENT_CA_FILE); none when undefined. */
  tls?: TlsFiles;
  /** Browser origins besides the server's own that may call the HTTP port (CHIME_CORS_ORIGINS). */
  corsOrigins: CorsOrigins;
  /** NATS TLS trust and credentials (CHIME_NATS_CA_FILE, CHIME_NATS_CREDS_FILE). */
  natsSecurity: NatsSecurity;
  /** Calls per second per namespace for namespace keys (CHIME_RATE_LIMIT); none when undefined. */
  rateLimit?: RateLimit;
  /** Whether gRPC reflection needs an API key (CHIME_REFLECTION_ACCESS=key) or is open. */
  reflectionAccess: Access;
  /** Whether /metrics needs an all-namespaces API key (CHIME_METRICS_ACCESS=key) or is open. */
  metricsAccess: Access;
}

export type Access = "open" | "key";

/** Every variable the server reads, with its default ("": none, or one computed at start); the README's table lists them (config.test.ts). */
export const CONFIG_DEFAULTS = {
  DATABASE_URL: "postgres://postgres@127.0.0.1:5432/chime",
  NATS_URL: "nats://127.0.0.1:4222",
  CHIME_DATABASE_DIRECT_URL: "",
  CHIME_DATABASE_POOL_SIZE: "10",
  CHIME_NATS_REPLICAS: "1",
  CHIME_NATS_PREFIX: "chime",
  CHIME_PORT: "8080",
  CHIME_HTTP_PORT: "8081",
  CHIME_HOST: "0.0.0.0",
  CHIME_ROLES: "api,scheduler,ingest,executor",
  CHIME_MAX_PAYLOAD_BYTES: String(256 * 1024),
  CHIME_MAX_MESSAGE_BYTES: String(4 * 1024 * 1024),
  CHIME_REQUEST_TIMEOUT_MS: "30000",
  CHIME_HEALTH_INTERVAL_MS: "2000",
  CHIME_SHUTDOWN_GRACE_MS: "10000",
  CHIME_LOG_LEVEL: "info",
  CHIME_SERVER_ID: "",
  CHIME_API_TOKEN: "",
  CHIME_DASHBOARD_DIR: "",
  CHIME_LEADER_LEASE_MS: "3000",
  CHIME_ELECTION_INTERVAL_MS: "500",
  CHIME_DISPATCH_BATCH: "1000",
  CHIME_DISPATCH_LOOKAHEAD_MS: "1000",
  CHIME_MISFIRE_THRESHOLD_MS: "5000",
  CHIME_MAX_CLOCK_SKEW_MS: "1000",
  CHIME_RECONCILE_INTERVAL_MS: "2000",
  CHIME_DISPATCH_RECORD_DELAY_MS: "1000",
  CHIME_EVENT_RETENTION_MS: String(7 * 86_400_000),
  CHIME_EVENT_PRUNE_INTERVAL_MS: "60000",
  CHIME_RUN_RETENTION_MS: "2592000000",
  CHIME_HTTP_ALLOWLIST: "",
  CHIME_EXECUTOR_CONCURRENCY: "32",
  CHIME_CANCEL_SWEEP_MS: "5000",
  CHIME_BACKGROUND_INTERVAL_MS: "1000",
  CHIME_WATCH_KEEPALIVE_MS: "15000",
  CHIME_WATCH_POLL_MS: "50",
  CHIME_WATCH_BUFFER_EVENTS: "10000",
  CHIME_TLS_CERT_FILE: "",
  CHIME_TLS_KEY_FILE: "",
  CHIME_TLS_CLIENT_CA_FILE: "",
  CHIME_CORS_ORIGINS: "",
  CHIME_NATS_CA_FILE: "",
  CHIME_NATS_CREDS_FILE: "",
  CHIME_RATE_LIMIT: "",
  CHIME_REFLECTION_ACCESS: "open",
  CHIME_METRICS_ACCESS: "open",
} as const;

const ALL_ROLES: readonly Role[] = ["api", "scheduler", "ingest", "executor"];

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

/** Reads and validates the configuration; throws ConfigError listing every problem. */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<ChimeConfig> = {},
): ChimeConfig {
  const problems: string[] = [];
  const get = (key: keyof typeof CONFIG_DEFAULTS): string => {
    const value = env[key];
    return value === undefined || value === "" ? CONFIG_DEFAULTS[key] : value;
  };
  const integer = (key: keyof typeof CONFIG_DEFAULTS, min: number, max: number): number => {
    const raw = get(key);
    // Plain decimal digits only: Number() would also take " " (0), "0x1F" or "1e3".
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isInteger(value) || value < min || value > max) {
      problems.push(`${key}=${JSON.stringify(raw)}: expected a whole number from ${min} to ${max}`);
      return Number(CONFIG_DEFAULTS[key]);
    }
    return value;
  };
  const checkUrl = (key: string, raw: string, protocols: string[]): string => {
    try {
      const parsed = new URL(raw);
      if (!protocols.includes(parsed.protocol)) {
        problems.push(`${key}=${JSON.stringify(raw)}: expected a ${protocols.join(" or ")} URL`);
      }
    } catch {
      problems.push(`${key}=${JSON.stringify(raw)}: not a URL`);
    }
    return raw;
  };
  const url = (key: keyof typeof CONFIG_DEFAULTS, protocols: string[]): string => checkUrl(key, get(key), protocols);

  const existingFile = (key: "CHIME_NATS_CA_FILE" | "CHIME_NATS_CREDS_FILE"): string | undefined => {
    const path = get(key);
    if (path && !existsSync(path)) problems.push(`${key}=${JSON.stringify(path)}: no such file`);
    return path || undefined;
  };
  const access = (key: "CHIME_REFLECTION_ACCESS" | "CHIME_METRICS_ACCESS"): Access => {
    const raw = get(key);
    if (raw === "open" || raw === "key") {
      if (raw === "key" && !get("CHIME_API_TOKEN")) problems.push(`${key}=key needs CHIME_API_TOKEN (API keys are off without it)`);
      return raw;
    }
    problems.push(`${key}=${JSON.stringify(raw)}: expected open or key`);
    return "open";
  };

  const databaseUrl = url("DATABASE_URL", ["postgres:", "postgresql:"]);
  const databaseDirectUrl = get("CHIME_DATABASE_DIRECT_URL") ? url("CHIME_DATABASE_DIRECT_URL", ["postgres:", "postgresql:"]) : databaseUrl;
  const natsUrl = get("NATS_URL")
    .split(",")
    .map((one) => one.trim())
    .filter(Boolean)
    .map((one) => checkUrl("NATS_URL", one, ["nats:", "tls:"]))
    .join(",");
  if (!natsUrl) problems.push("NATS_URL: at least one URL is required");
  const natsPrefix = get("CHIME_NATS_PREFIX");
  if (!/^[A-Za-z0-9_-]{1,32}$/.test(natsPrefix)) {
    problems.push(`CHIME_NATS_PREFIX=${JSON.stringify(natsPrefix)}: expected 1-32 letters, digits, _ or -`);
  }
  const roles = new Set<Role>();
  for (const name of get("CHIME_ROLES").split(",").map((r) => r.trim()).filter(Boolean)) {
    if ((ALL_ROLES as readonly string[]).includes(name)) roles.add(name as Role);
    else problems.push(`CHIME_ROLES: unknown role ${JSON.stringify(name)} (known: ${ALL_ROLES.join(", ")})`);
  }
  if (roles.size === 0 && !problems.some((p) => p.startsWith("CHIME_ROLES"))) {
    problems.push("CHIME_ROLES: at least one role is required");
  }
  const logLevel = get("CHIME_LOG_LEVEL");
  if (!["fatal", "error", "warn", "info", "debug", "trace", "silent"].includes(logLevel)) {
    problems.push(`CHIME_LOG_LEVEL=${JSON.stringify(logLevel)}: expected fatal, error, warn, info, debug, trace or silent`);
  }

  const config: ChimeConfig = {
    databaseUrl,
    databaseDirectUrl,
    databasePoolSize: integer("CHIME_DATABASE_POOL_SIZE", 1, 1000),
    natsUrl,
    natsReplicas: integer("CHIME_NATS_REPLICAS", 1, 5),
    natsPrefix,
    grpcPort: integer("CHIME_PORT", 0, 65535),
    httpPort: integer("CHIME_HTTP_PORT", 0, 65535),
    host: get("CHIME_HOST"),
    roles,
    maxPayloadBytes: integer("CHIME_MAX_PAYLOAD_BYTES", 1, 64 * 1024 * 1024),
    maxMessageBytes: integer("CHIME_MAX_MESSAGE_BYTES", 1024, 256 * 1024 * 1024),
    requestTimeoutMs: integer("CHIME_REQUEST_TIMEOUT_MS", 100, 3_600_000),
    healthIntervalMs: integer("CHIME_HEALTH_INTERVAL_MS", 50, 600_000),
    shutdownGraceMs: integer("CHIME_SHUTDOWN_GRACE_MS", 0, 600_000),
    logLevel,
    apiToken: get("CHIME_API_TOKEN"),
    dashboardDir: get("CHIME_DASHBOARD_DIR") || DEFAULT_DASHBOARD_DIR,
    serverId: get("CHIME_SERVER_ID") || `${hostname()}-${process.pid}`,
    leaderLeaseMs: integer("CHIME_LEADER_LEASE_MS", 200, 600_000),
    electionIntervalMs: integer("CHIME_ELECTION_INTERVAL_MS", 50, 60_000),
    dispatchBatchSize: integer("CHIME_DISPATCH_BATCH", 1, 100_000),
    dispatchLookaheadMs: integer("CHIME_DISPATCH_LOOKAHEAD_MS", 0, 60_000),
    misfireThresholdMs: integer("CHIME_MISFIRE_THRESHOLD_MS", 0, 86_400_000),
    maxClockSkewMs: integer("CHIME_MAX_CLOCK_SKEW_MS", 1, 86_400_000),
    reconcileIntervalMs: integer("CHIME_RECONCILE_INTERVAL_MS", 100, 600_000),
    dispatchRecordDelayMs: integer("CHIME_DISPATCH_RECORD_DELAY_MS", 0, 600_000),
    eventRetentionMs: integer("CHIME_EVENT_RETENTION_MS", 1000, 3650 * 86_400_000),
    eventPruneIntervalMs: integer("CHIME_EVENT_PRUNE_INTERVAL_MS", 100, 86_400_000),
    runRetentionMs: integer("CHIME_RUN_RETENTION_MS", 0, 3650 * 86_400_000),
    httpAllowlist: EMPTY_ALLOWLIST,
    executorConcurrency: integer("CHIME_EXECUTOR_CONCURRENCY", 1, 10_000),
    cancelSweepMs: integer("CHIME_CANCEL_SWEEP_MS", 100, 3_600_000),
    backgroundIntervalMs: integer("CHIME_BACKGROUND_INTERVAL_MS", 50, 3_600_000),
    watchKeepaliveMs: integer("CHIME_WATCH_KEEPALIVE_MS", 100, 3_600_000),
    watchPollMs: integer("CHIME_WATCH_POLL_MS", 5, 60_000),
    watchBufferEvents: integer("CHIME_WATCH_BUFFER_EVENTS", 10, 10_000_000),
    corsOrigins: SAME_ORIGIN_ONLY,
    natsSecurity: { caFile: existingFile("CHIME_NATS_CA_FILE"), credsFile: existingFile("CHIME_NATS_CREDS_FILE") },
    reflectionAccess: access("CHIME_REFLECTION_ACCESS"),
    metricsAccess: access("CHIME_METRICS_ACCESS"),
  };
  try {
    config.rateLimit = parseRateLimit(get("CHIME_RATE_LIMIT"));
    if (config.rateLimit && !config.apiToken) problems.push("CHIME_RATE_LIMIT needs CHIME_API_TOKEN (limits are per namespace key)");
  } catch (error) {
    problems.push(`CHIME_RATE_LIMIT: ${(error as Error).message}`);
  }
  try {
    config.corsOrigins = parseCorsOrigins(get("CHIME_CORS_ORIGINS"));
  } catch (error) {
    problems.push(`CHIME_CORS_ORIGINS: ${(error as Error).message}`);
  }
  try {
    config.httpAllowlist = parseAllowlist(get("CHIME_HTTP_ALLOWLIST"));
  } catch (error) {
    problems.push(`CHIME_HTTP_ALLOWLIST: ${(error as Error).message}`);
  }
  if (config.apiToken && !/^[\x21-\x7e]{8,512}$/.test(config.apiToken)) {
    problems.push("CHIME_API_TOKEN: expected 8-512 visible ASCII characters (no spaces)");
  }
  if (config.runRetentionMs !== 0 && config.runRetentionMs < config.eventRetentionMs) {
    problems.push(`CHIME_RUN_RETENTION_MS (${config.runRetentionMs}) must be 0 (keep runs) or at least CHIME_EVENT_RETENTION_MS (${config.eventRetentionMs}): a run outlives its events`);
  }
  config.tls = tlsFiles(get("CHIME_TLS_CERT_FILE"), get("CHIME_TLS_KEY_FILE"), get("CHIME_TLS_CLIENT_CA_FILE"), problems);
  if (config.electionIntervalMs >= config.leaderLeaseMs) {
    problems.push(`CHIME_ELECTION_INTERVAL_MS (${config.electionIntervalMs}) must be less than CHIME_LEADER_LEASE_MS (${config.leaderLeaseMs})`);
  }
  if (config.grpcPort !== 0 && config.grpcPort === config.httpPort) {
    problems.push(`CHIME_PORT and CHIME_HTTP_PORT are both ${config.grpcPort}: they must differ`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return { ...config, ...overrides };
}

/** The TLS files, when a certificate is configured: cert and key come together, and must exist. */
function tlsFiles(certFile: string, keyFile: string, clientCaFile: string, problems: string[]): TlsFiles | undefined {
  if (!certFile && !keyFile) {
    if (clientCaFile) problems.push("CHIME_TLS_CLIENT_CA_FILE needs CHIME_TLS_CERT_FILE and CHIME_TLS_KEY_FILE (mTLS is TLS with client certificates)");
    return undefined;
  }
  if (!certFile || !keyFile) {
    problems.push(`${certFile ? "CHIME_TLS_KEY_FILE" : "CHIME_TLS_CERT_FILE"} is required when ${certFile ? "CHIME_TLS_CERT_FILE" : "CHIME_TLS_KEY_FILE"} is set`);
    return undefined;
  }
  const files: Array<[string, string]> = [["CHIME_TLS_CERT_FILE", certFile], ["CHIME_TLS_KEY_FILE", keyFile]];
  if (clientCaFile) files.push(["CHIME_TLS_CLIENT_CA_FILE", clientCaFile]);
  for (const [key, path] of files) {
    if (!existsSync(path)) problems.push(`${key}=${JSON.stringify(path)}: no such file`);
  }
  return { certFile, keyFile, clientCaFile: clientCaFile || undefined };
}
