import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { untilTrue } from "./wait.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const SERVER_MAIN = "server/dist/main.js";
/** The test suite's worker program (server/test/helpers/worker-child.ts, compiled by build-node.sh). */
const WORKER_CHILD = "server/test/dist/helpers/worker-child.js";
/**
 * The test suite's clock shim (server/test/helpers/shifted-clock.mjs): preloaded into a
 * server, it moves Date.now() and new Date() by the milliseconds in a file, read again on
 * SIGUSR2, as an NTP step does; the monotonic clock is left alone.
 */
const SHIFTED_CLOCK = fileURLToPath(new URL("../../server/test/helpers/shifted-clock.mjs", import.meta.url));

export interface ChaosProcess {
  id: string;
  child: ChildProcess;
  exited: Promise<void>;
  signal(signal: NodeJS.Signals): void;
  /** SIGKILL, and resolves once it is gone. */
  kill(): Promise<void>;
}

function track(id: string, child: ChildProcess): ChaosProcess {
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const alive = () => child.exitCode === null && child.signalCode === null;
  return {
    id,
    child,
    exited,
    signal: (signal) => void (alive() && child.kill(signal)),
    async kill() {
      if (alive()) {
        child.kill("SIGCONT");
        child.kill("SIGKILL");
      }
      await exited;
    },
  };
}

/** Waits for a line containing `text` on the child's stdout, and returns that line. */
function untilPrinted(child: ChildProcess, text: string, what: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`${what} not ready in ${timeoutMs} ms: ${out.slice(-500)}`)), timeoutMs);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const line = out.split("\n").find((l) => l.includes(text));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(line);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited (${code}): ${out.slice(-500)}`));
    });
  });
}

/** Runs a Node program of the repository and resolves once it printed `readyText`, with that line. */
async function launch(id: string, script: string, readyText: string, env: Record<string, string>, preload?: string): Promise<{ proc: ChaosProcess; line: string }> {
  const child = spawn(process.execPath, [...(preload ? ["--import", preload] : []), script], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "ignore"] });
  const ready = untilPrinted(child, readyText, id);
  const proc = track(id, child);
  try {
    const line = await ready;
    child.stdout!.resume();
    return { proc, line };
  } catch (error) {
    await proc.kill();
    throw error;
  }
}

export interface ClusterOptions {
  databaseUrl: string;
  natsUrl: string;
  prefix: string;
  queue: string;
  workerLog: string;
  /** Lease of the leader's lock (CHIME_LEADER_LEASE_MS). */
  leaseMs: number;
  ackWaitMs: number;
  /** Where the servers' clock offset files go: set, servers run with a clock that stepClock() can step. */
  clockDir?: string;
}

/** Chime servers (every role) and workers of the queue, as separate processes. */
export function createCluster(options: ClusterOptions) {
  const servers = new Map<string, ChaosProcess>();
  const workers = new Map<string, ChaosProcess>();
  let grpcPort = 0;
  const pool = new pg.Pool({ connectionString: options.databaseUrl, max: 2 });
  // A server restarted under its id keeps its clock's offset, as a machine keeps its clock.
  const clockFile = (id: string) => join(options.clockDir!, `clock-${id}`);
  pool.on("error", () => undefined); // Postgres restarts are the point

  return {
    servers,
    workers,
    pool,
    get grpcUrl() {
      return `http://127.0.0.1:${grpcPort}`;
    },

    /** Starts a server (ports of the kernel's choosing: the load's client is made once, at the start). */
    async startServer(id: string): Promise<ChaosProcess> {
      const clock: Record<string, string> = options.clockDir ? { CHIME_TEST_CLOCK_OFFSET_FILE: clockFile(id) } : {};
      const { proc, line } = await launch(id, SERVER_MAIN, "chime server started", {
        ...clock,
        DATABASE_URL: options.databaseUrl,
        NATS_URL: options.natsUrl,
        CHIME_NATS_PREFIX: options.prefix,
        CHIME_HOST: "127.0.0.1",
        CHIME_PORT: "0",
        CHIME_HTTP_PORT: "0",
        CHIME_SERVER_ID: id,
        CHIME_LOG_LEVEL: "info",
        CHIME_LEADER_LEASE_MS: String(options.leaseMs),
        CHIME_SHUTDOWN_GRACE_MS: "2000",
      }, options.clockDir ? SHIFTED_CLOCK : undefined);
      servers.set(id, proc);
      grpcPort = (JSON.parse(line) as { grpcPort: number }).grpcPort;
      return proc;
    },

    /** Steps a server's wall clock to `offsetMs` from the true time (0: back to it). */
    stepClock(id: string, offsetMs: number): void {
      if (!options.clockDir) throw new Error("stepClock: the cluster was made without a clockDir");
      writeFileSync(clockFile(id), String(offsetMs));
      servers.get(id)?.signal("SIGUSR2");
    },

    async startWorker(id: string): Promise<ChaosProcess> {
      const { proc } = await launch(id, WORKER_CHILD, "ready", {
        CHIME_NATS_URL: options.natsUrl,
        CHIME_NATS_PREFIX: options.prefix,
        CHIME_QUEUE: options.queue,
        CHIME_WORKER_LOG: options.workerLog,
        CHIME_WORKER_ID: id,
        CHIME_CONCURRENCY: "64",
        CHIME_ACK_WAIT_MS: String(options.ackWaitMs),
      });
      workers.set(id, proc);
      return proc;
    },

    /** The server holding the leader's advisory lock, and its lock connection's backend pid. */
    async leader(timeoutMs = 30_000): Promise<{ server: ChaosProcess; backendPid: number }> {
      let found: { server: ChaosProcess; backendPid: number } | undefined;
      await untilTrue("a leader", async () => {
        const { rows } = await pool
          .query<{ pid: number; name: string }>(
            `SELECT a.pid, a.application_name AS name FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
              WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE 'chime-leader-%'`,
          )
          .catch(() => ({ rows: [] as Array<{ pid: number; name: string }> }));
        const server = rows[0] && servers.get(rows[0].name.slice("chime-leader-".length));
        if (server && server.child.exitCode === null) found = { server, backendPid: rows[0].pid };
        return found !== undefined;
      }, timeoutMs);
      return found!;
    },

    async close(): Promise<void> {
      await Promise.all([...servers.values(), ...workers.values()].map((p) => p.kill()));
      await pool.end().catch(() => undefined);
    },
  };
}

export type Cluster = ReturnType<typeof createCluster>;
