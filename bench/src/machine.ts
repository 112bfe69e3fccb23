import { execFileSync } from "node:child_process";
import { cpus, loadavg, release, totalmem } from "node:os";
import { connect } from "@nats-io/transport-node";
import { admin, NATS_URL } from "./pg.js";

export interface Machine {
  nproc: number;
  cpuModel: string;
  memoryGB: number;
  kernel: string;
  node: string;
  postgres: string;
  postgresSettings: Record<string, string>;
  nats: string;
  natsJetStream: boolean;
  loadAverageAtStart: number[];
  loadAverageAtEnd?: number[];
  /** Whether Postgres has pg_stat_statements loaded and NATS a monitoring port (profile hints). */
  pgStatStatements: boolean;
  natsMonitoring: string | null;
}

export async function describeMachine(): Promise<Machine> {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    // nproc missing: the CPU count Node sees.
  }
  const pgInfo = await admin(async (c) => {
    const version = (await c.query<{ v: string }>("SELECT version() AS v")).rows[0].v;
    const settings: Record<string, string> = {};
    for (const name of ["shared_buffers", "max_connections", "synchronous_commit", "fsync", "work_mem", "shared_preload_libraries"]) {
      settings[name] = (await c.query<{ s: string }>(`SELECT current_setting('${name}') AS s`)).rows[0].s;
    }
    return { version, settings };
  });
  const nc = await connect({ servers: NATS_URL });
  const info = nc.info!;
  await nc.close();
  let natsMonitoring: string | null = null;
  for (const port of [8222]) {
    const ok = await fetch(`http://127.0.0.1:${port}/varz`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ok) natsMonitoring = `http://127.0.0.1:${port}/jsz`;
  }
  return {
    nproc,
    cpuModel: cpus()[0]?.model ?? "unknown",
    memoryGB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    kernel: release(),
    node: process.version,
    postgres: pgInfo.version.split(" on ")[0],
    postgresSettings: pgInfo.settings,
    nats: info.version,
    natsJetStream: Boolean(info.jetstream),
    loadAverageAtStart: loadavg().map((l) => Math.round(l * 100) / 100),
    pgStatStatements: pgInfo.settings.shared_preload_libraries.includes("pg_stat_statements"),
    natsMonitoring,
  };
}
