/**
 * What a workload costs, by process class: CPU time (user + system, from /proc/<pid>/stat)
 * of every process of each class between two instants, and the row writes Postgres counted
 * per table (pg_stat_user_tables n_tup_ins + n_tup_upd + n_tup_del) over the same window.
 *
 * Classes: the Chime server(s), the worker (consumer) process, the Postgres backends of the
 * system's database (found by pid in pg_stat_activity, refreshed during the window so that
 * backends which connect meanwhile are counted too), nats-server (by process name; it is
 * shared with anything else on the machine that uses it), and the bench process itself
 * (the producer, which includes this meter's own sampling). Postgres' shared background processes (WAL writer, checkpointer) are not
 * counted: they serve every database on the machine.
 */
import { readdirSync, readFileSync } from "node:fs";
import pg from "pg";
import type { SystemName } from "./config.js";
import { sleep } from "./util.js";

const CLOCK_TICKS = 100;

/** CPU seconds (user + system) of one process, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Every process: pid, parent pid and name. */
function processTable(): Array<{ pid: number; ppid: number; comm: string }> {
  const out: Array<{ pid: number; ppid: number; comm: string }> = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      out.push({ pid: Number(entry), ppid, comm });
    } catch {
      // exited while listed
    }
  }
  return out;
}

/** The processes and their descendants. */
function withDescendants(roots: number[], table = processTable()): number[] {
  const pids = new Set(roots);
  for (let grown = true; grown; ) {
    grown = false;
    for (const p of table) {
      if (!pids.has(p.pid) && pids.has(p.ppid)) {
        pids.add(p.pid);
        grown = true;
      }
    }
  }
  return [...pids];
}

export const COST_CLASSES = ["server", "worker", "postgres", "nats", "bench"] as const;
export type CostClass = (typeof COST_CLASSES)[number];

export interface CostWindow {
  /** CPU seconds per class over the window (undefined: the class has no process for this system). */
  cpuSeconds: Partial<Record<CostClass, number>>;
  windowMs: number;
  /** Postgres backends seen during the window. */
  backends: number;
}

export interface RowWrites {
  /** Rows inserted + updated + deleted per table (schema.table) over the window. */
  byTable: Record<string, number>;
  total: number;
}

/** How a system's "every run has finished" is read from its database; null: unknown. */
function pendingSql(system: SystemName): string {
  if (system === "chime") return "SELECT count(*)::int AS n FROM runs WHERE state <> 4"; // RUN_STATE_SUCCEEDED
  if (system === "graphile-worker") return "SELECT count(*)::int AS n FROM graphile_worker._private_jobs";
  return "SELECT count(*)::int AS n FROM pgboss.job WHERE state <> 'completed'";
}

export interface CostMeter {
  /** Waits until the table statistics show at least `rows` inserted rows and stop changing (the insert's writes flushed), until `deadlineMs` at most. */
  waitForInsertStats(rows: number, deadlineMs: number): Promise<boolean>;
  /** Starts the window: samples every class and the table statistics. */
  begin(): Promise<void>;
  /** Waits until the system's database has no unfinished job or run left (true), or `timeoutMs` passes or it cannot tell (false). */
  waitDone(timeoutMs: number): Promise<boolean>;
  /** Ends the CPU window. */
  end(): Promise<CostWindow>;
  /** Row writes since begin(); call after the system's processes stopped, so that their backends flushed their statistics. */
  rowWrites(): Promise<RowWrites>;
  close(): Promise<void>;
}

export async function openCostMeter(options: { system: SystemName; databaseUrl: string; serverPids: number[]; workerPids: number[] }): Promise<CostMeter> {
  const db = new pg.Client({ connectionString: options.databaseUrl, application_name: "chime-bench-cost-meter" });
  await db.connect();
  const tableWrites = async (): Promise<Map<string, number>> => {
    const { rows } = await db.query<{ t: string; n: number }>(
      "SELECT schemaname || '.' || relname AS t, (n_tup_ins + n_tup_upd + n_tup_del)::float8 AS n FROM pg_stat_user_tables",
    );
    return new Map(rows.map((r) => [r.t, Number(r.n)]));
  };
  const insertedRows = async (): Promise<number> =>
    Number((await db.query<{ n: number }>("SELECT coalesce(sum(n_tup_ins), 0)::float8 AS n FROM pg_stat_user_tables")).rows[0].n);

  // Per process: CPU at the start of the window (0 for one started later) and the latest reading.
  type Track = { base: number; last: number };
  const tracks: Record<CostClass, Map<number, Track>> = { server: new Map(), worker: new Map(), postgres: new Map(), nats: new Map(), bench: new Map() };
  let beganAt = 0;
  let tablesAtBegin = new Map<string, number>();
  let refresher: NodeJS.Timeout | undefined;
  let refreshing: Promise<void> = Promise.resolve();

  // Server, worker and NATS processes are listed at the start and the end of the window (a
  // /proc scan costs the bench process, which is measured too); the database's backends at
  // every refresh.
  let processPids: Record<Exclude<CostClass, "postgres">, number[]> = { server: [], worker: [], nats: [], bench: [] };
  const listProcesses = () => {
    const table = processTable();
    processPids = {
      server: options.serverPids.length ? withDescendants(options.serverPids, table) : [],
      worker: options.workerPids.length ? withDescendants(options.workerPids, table) : [],
      nats: options.system === "chime" ? table.filter((p) => p.comm === "nats-server").map((p) => p.pid) : [],
      bench: [process.pid],
    };
  };
  const sample = async (first: boolean) => {
    const { rows } = await db.query<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()");
    const pids: Record<CostClass, number[]> = { ...processPids, postgres: rows.map((r) => r.pid) };
    for (const cls of COST_CLASSES) {
      for (const pid of pids[cls]) {
        const cpu = cpuSeconds(pid);
        if (cpu === undefined) continue;
        const track = tracks[cls].get(pid);
        if (track) track.last = cpu;
        else tracks[cls].set(pid, { base: first ? cpu : 0, last: cpu });
      }
    }
  };

  return {
    async waitForInsertStats(rows, deadlineMs) {
      let previous = -1;
      for (;;) {
        const now = await insertedRows();
        if (now >= rows && now === previous) return true;
        previous = now;
        if (Date.now() >= deadlineMs) return false;
        await sleep(300);
      }
    },
    async begin() {
      tablesAtBegin = await tableWrites();
      beganAt = performance.now();
      listProcesses();
      await sample(true);
      // Backends that connect during the window (pools grow) are picked up within 500 ms.
      refresher = setInterval(() => {
        refreshing = refreshing.then(() => sample(false)).catch(() => undefined);
      }, 500);
    },
    async waitDone(timeoutMs) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        let pending: number;
        try {
          pending = (await db.query<{ n: number }>(pendingSql(options.system))).rows[0].n;
        } catch {
          return false;
        }
        if (pending === 0) return true;
        if (Date.now() >= deadline) return false;
        await sleep(200);
      }
    },
    async end() {
      clearInterval(refresher);
      await refreshing;
      listProcesses();
      await sample(false);
      const windowMs = performance.now() - beganAt;
      const cpu: Partial<Record<CostClass, number>> = {};
      for (const cls of COST_CLASSES) {
        if (tracks[cls].size === 0) continue;
        let sum = 0;
        for (const t of tracks[cls].values()) sum += t.last - t.base;
        cpu[cls] = sum;
      }
      return { cpuSeconds: cpu, windowMs, backends: tracks.postgres.size };
    },
    async rowWrites() {
      // A backend flushes its table statistics at exit, or within a second of its last
      // transaction while it stays connected: read until two readings agree.
      let previous = await tableWrites();
      for (let i = 0; i < 10; i++) {
        await sleep(500);
        const now = await tableWrites();
        const same = [...now].every(([t, n]) => previous.get(t) === n) && now.size === previous.size;
        previous = now;
        if (same && i >= 1) break;
      }
      const byTable: Record<string, number> = {};
      let total = 0;
      for (const [t, n] of previous) {
        const delta = n - (tablesAtBegin.get(t) ?? 0);
        if (delta === 0) continue;
        byTable[t] = delta;
        total += delta;
      }
      return { byTable, total };
    },
    async close() {
      clearInterval(refresher);
      await db.end().catch(() => undefined);
    },
  };
}
