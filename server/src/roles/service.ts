import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import type { NatsLayout } from "@chime/sdk";
import type pg from "pg";
import type { ChimeServerOptions } from "../app.js";
import type { createAuth } from "../auth/auth.js";
import type { ChimeConfig, Role } from "../config.js";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";
import type { NatsHolder } from "../nats/connection.js";
import type { prepareJetStream } from "../nats/jetstream.js";
import type { CancelSignal } from "../runs/cancel-signal.js";
import type { RunPublisher } from "../scheduler/run-publisher.js";
import type { Scheduler } from "../scheduler/scheduler.js";
import type { WatchHub } from "../watch/watch-hub.js";

/** A service as the transports serve it (already authorized, hardened and observed). */
export interface ServedService {
  service: DescService;
  impl: ServiceImpl<DescService>;
}

/** What every service of a process shares: configuration and the Postgres and NATS foundation. */
export interface ServiceContext {
  config: ChimeConfig;
  options: ChimeServerOptions;
  logger: Logger;
  metrics: Metrics;
  pool: pg.Pool;
  now: () => Date;
  clockSkew: () => { skewMs: number; skewed: boolean };
  nats: NatsHolder;
  jetStream: ReturnType<typeof prepareJetStream>;
  layout: NatsLayout;
  publisher: RunPublisher;
  cancelSignal: CancelSignal;
  auth: ReturnType<typeof createAuth>;
  /** Aborted when the process stops: long-lived streams end and waits for NATS give up. */
  shutdownSignal: AbortSignal;
  /** Aborts `shutdownSignal` (the transports call it once they stop taking new calls). */
  endStreams(): void;
  /** Registers an RPC service with both transports (authorization comes from the caller). */
  serve<S extends DescService>(service: S, authorized: ServiceImpl<S>): void;
  /** Every service registered so far, in order (the transports serve these). */
  served: ServedService[];
  /** Handles a service publishes for the others and for tests (set while starting). */
  links: { scheduler?: Scheduler; watch?: WatchHub };
}

/** A started service: stopping gets an absolute deadline (epoch ms) shared by the whole shutdown. */
export interface StartedService {
  stop(deadline: number): Promise<void> | void;
}

/**
 * One part of a Chime process, with the one start/stop shape every part has. `roles` are the
 * CHIME_ROLES it runs under; none means every process runs it (the transports).
 */
export interface ChimeService {
  name: string;
  roles?: readonly Role[];
  start(context: ServiceContext): Promise<StartedService> | StartedService;
}

/** Time left before `deadline`, never negative (for APIs that take a grace period). */
export const remainingMs = (deadline: number) => Math.max(0, deadline - Date.now());

export function runsIn(service: ChimeService, roles: ReadonlySet<Role>): boolean {
  return !service.roles || service.roles.some((role) => roles.has(role));
}

/**
 * Starts `services` in table order; if one fails, the ones already started are stopped (in
 * reverse) before the error is rethrown, so a failed start leaves nothing running.
 */
export async function startInOrder(services: readonly ChimeService[], context: ServiceContext) {
  const started: Array<{ name: string; running: StartedService }> = [];
  const stopInReverse = async (deadline: number) => {
    while (started.length) {
      const { name, running } = started.pop()!;
      try {
        await running.stop(deadline);
      } catch (error) {
        context.logger.error({ err: error, service: name }, "service did not stop cleanly");
      }
    }
  };
  for (const service of services) {
    try {
      started.push({ name: service.name, running: await service.start(context) });
    } catch (error) {
      await stopInReverse(Date.now() + context.config.shutdownGraceMs);
      throw error;
    }
  }
  return { names: started.map((s) => s.name), stopInReverse };
}
