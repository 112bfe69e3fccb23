import { benchPrefix, deleteNatsPrefix, QUEUE, startChime, type ChimeProcess } from "./chime.js";
import type { BenchContext } from "./config.js";
import { chimeConsumerKind, startConsumer, type Consumer } from "./consumer.js";
import { freshDatabase, NATS_URL, type BenchDatabase } from "./pg.js";

/** A fresh Chime database and NATS prefix with `servers` server processes and (optionally) a consumer. */
export interface ChimeSession {
  db: BenchDatabase;
  prefix: string;
  servers: ChimeProcess[];
  consumer?: Consumer;
  startConsumer(instances?: number): Promise<Consumer>;
  close(): Promise<void>;
}

export async function openChimeSession(ctx: BenchContext, workload: string, options: { servers?: number; env?: Record<string, string> } = {}): Promise<ChimeSession> {
  const db = await freshDatabase("chime", { create: false });
  const prefix = benchPrefix(workload);
  const servers: ChimeProcess[] = [];
  const session: ChimeSession = {
    db,
    prefix,
    servers,
    async startConsumer(instances = 1) {
      session.consumer = await startConsumer({
        kind: chimeConsumerKind(ctx.chimeConsumer),
        natsUrl: NATS_URL,
        prefix,
        queue: QUEUE,
        concurrency: ctx.workerConcurrency,
        instances,
      });
      return session.consumer;
    },
    async close() {
      session.consumer?.kill();
      await Promise.all(servers.map((s) => s.kill("SIGTERM")));
      await deleteNatsPrefix(prefix).catch(() => undefined);
      await db.drop();
    },
  };
  try {
    // The first server creates the database and streams; the others join it.
    servers.push(await startChime({ databaseUrl: db.url, prefix, serverId: `${workload}-a`, env: options.env, cpuProfDir: ctx.cpuProfDir }));
    for (let i = 1; i < (options.servers ?? 1); i++) {
      servers.push(await startChime({ databaseUrl: db.url, prefix, serverId: `${workload}-${String.fromCharCode(97 + i)}`, env: options.env, cpuProfDir: ctx.cpuProfDir }));
    }
    return session;
  } catch (error) {
    await session.close();
    throw error;
  }
}
