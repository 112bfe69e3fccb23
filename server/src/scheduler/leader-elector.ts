import { EventEmitter } from "node:events";
import pg from "pg";
import { inTransaction } from "../db/pool.js";
import type { Logger } from "../logger.js";

/** Advisory lock key of the scheduler leadership. */
const LEADER_LOCK_KEY = 7_283_002;

export interface LeaderElectorOptions {
  databaseUrl: string;
  /** Identifies this server in the leader row and logs. */
  serverId: string;
  /** A leader that cannot confirm its lease within this time steps down; a leader whose
   * heartbeat is older than this may be evicted by a challenger. */
  leaseMs: number;
  /** How often a follower tries to take the lead, and a leader confirms its lease. */
  intervalMs: number;
  /** This server's wall clock against Postgres', written with each heartbeat (GetSchedulerStatus reports it). */
  clockSkew?: () => { skewMs: number; skewed: boolean };
  logger: Logger;
}

export interface Leadership {
  epoch: number;
  /** Aborted when this leadership ends (lost lock, failed lease, stop). */
  signal: AbortSignal;
}

/**
 * Elects one leader among all servers: a Postgres advisory lock held on a dedicated
 * connection (never a pooled one) plus a leader row whose epoch only grows. Leader
 * writes are fenced with `fencedTransaction`, which checks the epoch under a row lock.
 *
 * Emits "elected" (Leadership) and "deposed" (epoch).
 */
export class LeaderElector extends EventEmitter {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private current: { epoch: number; abort: AbortController } | undefined;
  private stopped = false;
  private ticking = false;

  constructor(private readonly options: LeaderElectorOptions) {
    super();
  }

  get leadership(): Leadership | undefined {
    return this.current ? { epoch: this.current.epoch, signal: this.current.abort.signal } : undefined;
  }

  start(): void {
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    while (this.ticking) await new Promise((resolve) => setTimeout(resolve, 10));
    this.stepDown("stopping");
    await this.closeClient();
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => void this.tick(), delayMs);
  }

  private async tick(): Promise<void> {
    this.ticking = true;
    try {
      if (this.current) await this.confirmLease();
      else await this.tryToLead();
    } catch (error) {
      this.options.logger.warn({ err: error }, "leader election step failed");
      this.stepDown("election error");
      await this.closeClient();
    } finally {
      this.ticking = false;
      this.schedule(this.options.intervalMs);
    }
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      connectionString: this.options.databaseUrl,
      connectionTimeoutMillis: this.options.leaseMs,
      query_timeout: this.options.leaseMs,
      keepAlive: true,
      application_name: `chime-leader-${this.options.serverId}`,
    });
    // A dropped lock connection (pg_terminate_backend, network) ends the leadership at once.
    client.on("error", (error) => {
      this.options.logger.warn({ err: error }, "leader connection failed");
      this.stepDown("lock connection lost");
      if (this.client === client) this.client = undefined;
    });
    client.on("end", () => {
      this.stepDown("lock connection closed");
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    this.client = client;
    return client;
  }

  private async tryToLead(): Promise<void> {
    const client = await this.connect();
    const { rows } = await client.query<{ locked: boolean }>("SELECT pg_try_advisory_lock($1) AS locked", [LEADER_LOCK_KEY]);
    if (!rows[0].locked) {
      await this.evictStaleLeader(client);
      return;
    }
    const epoch = await this.bumpEpoch(client);
    this.current = { epoch, abort: new AbortController() };
    this.options.logger.info({ epoch, serverId: this.options.serverId }, "became scheduler leader");
    this.emit("elected", this.leadership);
  }

  /**
   * Takes the next epoch. The explicit FOR UPDATE waits for every fenced transaction of
   * the old epoch (they hold FOR KEY SHARE) and makes later ones re-read the row and see
   * the new epoch. Heartbeats are no-key updates: they never wait for, or block, fenced work.
   */
  private async bumpEpoch(client: pg.Client): Promise<number> {
    await client.query("BEGIN");
    try {
      await client.query("SELECT 1 FROM scheduler_leader WHERE singleton FOR UPDATE");
      const claimed = await client.query<{ epoch: number }>(
        `INSERT INTO scheduler_leader (epoch, leader_id, since, heartbeat_time, backend_pid)
         VALUES (1, $1, now(), now(), pg_backend_pid())
         ON CONFLICT (singleton) DO UPDATE SET epoch = scheduler_leader.epoch + 1, leader_id = $1,
           since = now(), heartbeat_time = now(), backend_pid = pg_backend_pid(), clock_skew_ms = NULL, clock_skewed = false
         RETURNING epoch`,
        [this.options.serverId],
      );
      await client.query("COMMIT");
      return claimed.rows[0].epoch;
    } catch (error) {
      await client.query("ROLLBACK").catch(() => undefined);
      throw error;
    }
  }

  /**
   * A leader that holds the lock but stopped heartbeating (frozen process, half-open
   * connection) is evicted by terminating its lock connection; its epoch fences it off.
   */
  private async evictStaleLeader(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ backend_pid: number }>(
      `SELECT backend_pid FROM scheduler_leader
       WHERE heartbeat_time < now() - make_interval(secs => $1::double precision / 1000) AND backend_pid IS NOT NULL`,
      [this.options.leaseMs],
    );
    if (rows[0]) {
      this.options.logger.warn({ backendPid: rows[0].backend_pid }, "evicting a scheduler leader whose lease expired");
      await client.query("SELECT pg_terminate_backend($1)", [rows[0].backend_pid]);
    }
  }

  private async confirmLease(): Promise<void> {
    const client = this.client;
    const current = this.current!;
    if (!client) return this.stepDown("no lock connection");
    // The monotonic clock: a step of the wall clock is not a slow confirmation.
    const started = performance.now();
    const skew = this.options.clockSkew?.();
    const { rowCount } = await client.query(
      `UPDATE scheduler_leader SET heartbeat_time = now(), clock_skew_ms = $2, clock_skewed = $3
       WHERE epoch = $1 AND backend_pid = pg_backend_pid()`,
      [current.epoch, skew?.skewMs ?? null, skew?.skewed ?? false],
    );
    if (rowCount !== 1) return this.stepDown("a newer leader took over");
    if (performance.now() - started > this.options.leaseMs) return this.stepDown("lease confirmation too slow");
  }

  private stepDown(reason: string): void {
    const current = this.current;
    if (!current) return;
    this.current = undefined;
    current.abort.abort(new Error(`leadership ended: ${reason}`));
    this.options.logger.warn({ epoch: current.epoch, reason }, "no longer scheduler leader");
    this.emit("deposed", current.epoch);
    // Without the lock connection's session the advisory lock is gone too; drop it so a
    // half-failed connection cannot keep the lock while we believe we are a follower.
    void this.closeClient();
  }

  private async closeClient(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client) await client.end().catch(() => undefined);
  }
}

export class FencedOut extends Error {
  constructor(epoch: number) {
    super(`leader epoch ${epoch} is no longer current`);
    this.name = "FencedOut";
  }
}

/**
 * Runs `work` in a transaction that first checks, under a key-share lock on the leader
 * row, that `epoch` is still the current one. A new leader's epoch bump (FOR UPDATE)
 * waits for this transaction, and once it has happened this check fails: a stale leader
 * cannot commit. The current leader's heartbeat (a no-key UPDATE) does not conflict with
 * the key-share lock, so heartbeats and dispatch transactions never queue behind each other.
 */
export function fencedTransaction<T>(pool: pg.Pool, epoch: number, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query<{ epoch: number }>("SELECT epoch FROM scheduler_leader WHERE singleton FOR KEY SHARE");
    if (rows[0]?.epoch !== epoch) throw new FencedOut(epoch);
    return work(client);
  });
}
