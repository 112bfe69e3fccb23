import type { ChaosProcess, Cluster } from "./cluster.js";
import { CLOCK_STEP_SCENARIOS } from "./clock-steps.js";
import type { ChaosNats } from "./nats.js";
import type { ChaosPostgres } from "./postgres.js";
import { sleep } from "./wait.js";

export interface FaultContext {
  cluster: Cluster;
  postgres: ChaosPostgres;
  nats: ChaosNats;
  leaseMs: number;
  ackWaitMs: number;
  /** Restarts a server that was killed, under its id and port. */
  restartServer(id: string): Promise<void>;
  /** Starts a worker under a new id. */
  startWorker(): Promise<void>;
  /** Milliseconds of the server outage (10 minutes in full mode). */
  outageMs: number;
  log(message: string): void;
}

/** A fault, injected again and again until the load's last fire time (`until`, ms since the epoch). */
export interface Scenario {
  name: string;
  description: string;
  /** Pause between two injections. */
  everyMs: number;
  /** Servers in the cluster (default 2). */
  servers?: number;
  /** The servers run with a wall clock the scenario can step (FaultContext.cluster.stepClock). */
  steppedClocks?: boolean;
  inject(ctx: FaultContext): Promise<void>;
}

type Pick = (ctx: FaultContext) => Promise<ChaosProcess>;
const theLeader: Pick = async (ctx) => (await ctx.cluster.leader()).server;
const aWorker: Pick = async (ctx) => [...ctx.cluster.workers.values()][0];

/** A fault done to one process: whichever server leads, or a worker, when it is injected. */
const processFault = (name: string, description: string, everyMs: number, pick: Pick, act: (ctx: FaultContext, target: ChaosProcess) => Promise<void>): Scenario => ({
  name,
  description,
  everyMs,
  async inject(ctx) {
    const target = await pick(ctx);
    ctx.log(`${name}: ${target.id}`);
    await act(ctx, target);
  },
});

const leaderFault = (name: string, description: string, everyMs: number, act: (ctx: FaultContext, leader: ChaosProcess) => Promise<void>) =>
  processFault(name, description, everyMs, theLeader, act);

const killLeader = leaderFault("leader-kill9", "kill -9 of the leader, restarted at once, in a loop", 4000, async (ctx, leader) => {
  await leader.kill();
  await ctx.restartServer(leader.id);
});

const pauseLeader = leaderFault("leader-sigstop", "SIGSTOP of the leader past its lease, then SIGCONT", 5000, async (ctx, leader) => {
  leader.signal("SIGSTOP");
  await sleep(ctx.leaseMs + 2000);
  leader.signal("SIGCONT");
});

const terminateLockBackend: Scenario = {
  name: "leader-lock-terminate",
  description: "pg_terminate_backend of the leader's lock connection",
  everyMs: 4000,
  async inject(ctx) {
    const { server, backendPid } = await ctx.cluster.leader();
    ctx.log(`pg_terminate_backend(${backendPid}) of leader ${server.id}`);
    await ctx.cluster.pool.query("SELECT pg_terminate_backend($1)", [backendPid]);
  },
};

const killWorker = processFault("worker-kill9", "kill -9 of a worker, a new one started", 4000, aWorker, async (ctx, worker) => {
  ctx.cluster.workers.delete(worker.id);
  await worker.kill();
  await ctx.startWorker();
});

const pauseWorker = processFault("worker-sigstop", "SIGSTOP of a worker past its ack wait, then SIGCONT", 3000, aWorker, async (ctx, worker) => {
  worker.signal("SIGSTOP");
  await sleep(ctx.ackWaitMs + 2000);
  worker.signal("SIGCONT");
});

const restartPostgres = (mode: "fast" | "immediate"): Scenario => ({
  name: `postgres-restart-${mode}`,
  description: `Postgres stopped (${mode}) and started again after 2 s`,
  everyMs: 8000,
  async inject(ctx) {
    ctx.log(`postgres restart (${mode})`);
    await ctx.postgres.restart(mode, 2000);
  },
});

const restartNats = (signal: "SIGTERM" | "SIGKILL"): Scenario => ({
  name: `nats-restart-${signal === "SIGTERM" ? "term" : "kill9"}`,
  description: `NATS stopped (${signal}) and started again after 2 s`,
  everyMs: 8000,
  async inject(ctx) {
    ctx.log(`nats restart (${signal})`);
    await ctx.nats.restart(signal, 2000);
  },
});

const outage: Scenario = {
  name: "server-outage",
  description: "the only server down for the outage (10 min in full mode), then started again",
  everyMs: Number.POSITIVE_INFINITY,
  servers: 1,
  async inject(ctx) {
    const servers = [...ctx.cluster.servers.values()];
    ctx.log(`outage of ${servers.length} server(s) for ${ctx.outageMs} ms`);
    await Promise.all(servers.map((s) => s.kill()));
    await sleep(ctx.outageMs);
    for (const s of servers) await ctx.restartServer(s.id);
  },
};

export const SCENARIOS: Scenario[] = [
  killLeader,
  pauseLeader,
  terminateLockBackend,
  killWorker,
  pauseWorker,
  restartPostgres("fast"),
  restartPostgres("immediate"),
  restartNats("SIGTERM"),
  restartNats("SIGKILL"),
  outage,
  ...CLOCK_STEP_SCENARIOS,
];
