import type { NatsConnection } from "@nats-io/transport-node";
import { HealthImplementation } from "grpc-health-check";
import pg from "pg";
import type { Logger } from "../logger.js";

export interface HealthReport {
  status: "SERVING" | "NOT_SERVING";
  postgres: boolean;
  nats: boolean;
}

/** What each role needs to do its work; a role is ready when these answer. */
const ROLE_DEPENDENCIES = {
  // Jobs, runs and watches are read from and written to Postgres only (runs are dispatched
  // from the outbox by the scheduler), so the API serves through a NATS outage.
  api: ["postgres"],
  scheduler: ["postgres", "nats"],
  ingest: ["postgres", "nats"],
  executor: ["nats"],
} as const satisfies Record<string, ReadonlyArray<"postgres" | "nats">>;

export type ProbedRole = keyof typeof ROLE_DEPENDENCIES;

export interface ReadinessReport {
  ready: boolean;
  postgres: boolean;
  nats: boolean;
  /** Each role asked about (the process's own, or the one named): ready, and what it needs. */
  roles: Partial<Record<ProbedRole, { ready: boolean; needs: ReadonlyArray<"postgres" | "nats"> }>>;
}

/**
 * Readiness (/readyz) from the last probe: each role of `roles` is ready when its own
 * dependencies answer, and the process is ready when all of them are. Separate from
 * liveness (/livez: the process serves HTTP at all), so an orchestrator restarts a process
 * only when it is stuck, and takes it out of service only while a dependency is down.
 */
export function readinessOf(report: HealthReport, roles: Iterable<ProbedRole>): ReadinessReport {
  const byRole: ReadinessReport["roles"] = {};
  for (const role of roles) {
    const needs = ROLE_DEPENDENCIES[role];
    byRole[role] = { ready: needs.every((dependency) => report[dependency]), needs };
  }
  return { ready: Object.values(byRole).every((role) => role.ready), postgres: report.postgres, nats: report.nats, roles: byRole };
}

/** The grpc.health.v1 service name of a role: SERVING while that role's own dependencies answer. */
export const roleHealthName = (role: ProbedRole) => `chime.role.${role}`;

export function isProbedRole(name: string): name is ProbedRole {
  return Object.hasOwn(ROLE_DEPENDENCIES, name);
}

/**
 * Probes Postgres and NATS on an interval and publishes the result to grpc.health.v1
 * (for "" and each served service, and per role of the process as `chime.role.<role>`,
 * following that role's own dependencies) and to /healthz.
 */
export function createHealthMonitor(options: {
  databaseUrl: string;
  nats: () => NatsConnection | undefined;
  intervalMs: number;
  services: string[];
  /** The process's roles, each reported under its own health service name. */
  roles?: Iterable<ProbedRole>;
  logger: Logger;
}) {
  const names = ["", ...options.services];
  const roles = [...(options.roles ?? [])];
  const grpcHealth = new HealthImplementation(
    Object.fromEntries([...names, ...roles.map(roleHealthName)].map((n) => [n, "NOT_SERVING"])),
  );
  let roleStatus: Record<string, boolean> = {};
  let report: HealthReport = { status: "NOT_SERVING", postgres: false, nats: false };
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const probeTimeoutMs = Math.max(200, Math.min(options.intervalMs, 3000));

  async function probePostgres(): Promise<boolean> {
    const client = new pg.Client({ connectionString: options.databaseUrl, connectionTimeoutMillis: probeTimeoutMs, query_timeout: probeTimeoutMs });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("SELECT 1");
      return true;
    } catch {
      return false;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function probeNats(): Promise<boolean> {
    const nc = options.nats();
    if (!nc || nc.isClosed()) return false;
    // A hung server (SIGSTOP, a dead link the client has not noticed) never answers the
    // flush's PING: without a bound, this probe and every one after it would wait forever,
    // and the last report (ready) would stand.
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), probeTimeoutMs);
    });
    try {
      return await Promise.race([nc.flush().then(() => true, () => false), timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  async function probe(): Promise<HealthReport> {
    const [postgres, nats] = await Promise.all([probePostgres(), probeNats()]);
    const next: HealthReport = { status: postgres && nats ? "SERVING" : "NOT_SERVING", postgres, nats };
    if (next.status !== report.status || next.postgres !== report.postgres || next.nats !== report.nats) {
      options.logger.info({ health: next }, "health changed");
    }
    const statusChanged = next.status !== report.status;
    report = next;
    // Health/Watch streams get a message per change of status, not one per probe.
    if (!stopped && statusChanged) for (const name of names) grpcHealth.setStatus(name, next.status);
    const readiness = readinessOf(next, roles).roles;
    for (const role of roles) {
      const ready = readiness[role]!.ready;
      if (!stopped && roleStatus[role] !== ready) grpcHealth.setStatus(roleHealthName(role), ready ? "SERVING" : "NOT_SERVING");
    }
    roleStatus = Object.fromEntries(roles.map((role) => [role, readiness[role]!.ready]));
    return next;
  }

  function schedule() {
    timer = setTimeout(() => {
      void probe().finally(() => {
        if (!stopped) schedule();
      });
    }, options.intervalMs);
    timer.unref();
  }

  return {
    grpcHealth,
    current: () => report,
    async start() {
      await probe();
      schedule();
    },
    stop() {
      stopped = true;
      clearTimeout(timer);
      for (const name of [...names, ...roles.map(roleHealthName)]) grpcHealth.setStatus(name, "NOT_SERVING");
    },
  };
}

export type HealthMonitor = ReturnType<typeof createHealthMonitor>;
