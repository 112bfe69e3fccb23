import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { connect } from "@nats-io/transport-node";
import { createChimeClient, toJob, type Job, type ScheduleSpec } from "@chime/sdk";
import { loadConfig } from "../../server/src/config.js";
import { deleteStreams } from "../../server/src/nats/streams.js";
import { freePort } from "../../server/test/helpers/server-process.js";
import pg from "pg";
import { cpuSeconds } from "./cost.js";
import { NATS_URL } from "./pg.js";
import { randomId, sleep } from "./util.js";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const QUEUE = "bench";

/** Environment every benchmark server gets (on top of the defaults in server/src/config.ts). */
export const CHIME_SETTINGS: Record<string, string> = {
  CHIME_LOG_LEVEL: "warn",
  // Every default role but the built-in http executor, which has nothing to do here (read
  // from the server's config, so that a role added to the defaults, such as status
  // ingestion of its own, is run too).
  CHIME_ROLES: [...loadConfig({}).roles].filter((role) => role !== "executor").join(","),
};

export interface ChimeProcess {
  serverId: string;
  child: ChildProcess;
  pid: number;
  grpcUrl: string;
  httpUrl: string;
  logs: string[];
  exited: Promise<number | null>;
  /** SIGTERM (default) and wait; SIGKILL for failover. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

const running = new Set<ChimeProcess>();

export interface ChimeOptions {
  databaseUrl: string;
  prefix: string;
  serverId?: string;
  env?: Record<string, string>;
  /** Write a V8 CPU profile (node --cpu-prof) into this directory when the server exits. */
  cpuProfDir?: string;
}

/**
 * Runs the real server, compiled (server/dist/main.js; `npm run bench` builds it first), as a child
 * process and waits until /healthz answers 200.
 */
export async function startChime(options: ChimeOptions): Promise<ChimeProcess> {
  const serverId = options.serverId ?? `bench-${randomId(4)}`;
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const args: string[] = [];
  if (options.cpuProfDir) {
    mkdirSync(options.cpuProfDir, { recursive: true });
    // Default file names (CPU.<date>.<pid>.<thread>.<seq>.cpuprofile).
    args.push("--cpu-prof", `--cpu-prof-dir=${options.cpuProfDir}`);
  }
  const child = spawn(process.execPath, [...args, "server/dist/main.js"], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: options.databaseUrl,
      NATS_URL,
      CHIME_NATS_PREFIX: options.prefix,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: String(grpcPort),
      CHIME_HTTP_PORT: String(httpPort),
      CHIME_SERVER_ID: serverId,
      ...CHIME_SETTINGS,
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (!line) continue;
      logs.push(line);
      if (logs.length > 200) logs.shift();
    }
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  if (process.env.BENCH_TEE) child.stderr!.on("data", (c: Buffer) => process.stderr.write(c));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const proc: ChimeProcess = {
    serverId,
    child,
    pid: child.pid!,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    httpUrl,
    logs,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const code = await Promise.race([exited, sleep(15_000).then(() => "timeout" as const)]);
      if (code === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
      running.delete(proc);
      return child.exitCode;
    },
  };
  running.add(proc);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`chime server ${serverId} exited at start:\n${logs.slice(-10).join("\n")}`);
    const response = await fetch(`${httpUrl}/healthz`).catch(() => undefined);
    if (response?.status === 200) break;
    if (Date.now() > deadline) {
      await proc.kill("SIGKILL");
      throw new Error(`chime server ${serverId} did not serve within 60 s:\n${logs.slice(-10).join("\n")}`);
    }
    await sleep(100);
  }
  return proc;
}

/** Stops every server this run started and has not stopped (used on errors and Ctrl-C). */
export async function killAllChime(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill("SIGKILL")));
}

/** CPU seconds (user + system) and resident memory of a process, from /proc. */
export function procSample(pid: number): { cpuSeconds: number; rssBytes: number; at: number } {
  const cpu = cpuSeconds(pid);
  if (cpu === undefined) throw new Error(`process ${pid} is gone`);
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  return { cpuSeconds: cpu, rssBytes: rssKb * 1024, at: performance.now() };
}

/** CPU share (1.0 = one core) of a process between two samples. */
export function cpuShare(a: ReturnType<typeof procSample>, b: ReturnType<typeof procSample>): number {
  return (b.cpuSeconds - a.cpuSeconds) / ((b.at - a.at) / 1000);
}

/** Deletes every stream and bucket of a Chime prefix. */
export async function deleteNatsPrefix(prefix: string): Promise<void> {
  const nc = await connect({ servers: NATS_URL });
  try {
    await deleteStreams(nc, prefix);
  } finally {
    await nc.close();
  }
}

/** A NATS prefix of this run's own: 1-32 of [A-Za-z0-9_-]. */
export function benchPrefix(workload: string): string {
  return `bench_${workload.slice(0, 8)}_${randomId(6)}`;
}

/** Jobs per BatchCreateJobs call (the contract's maximum) and calls in flight at once. */
export const BATCH_CREATE_SIZE = 1000;
export const BATCH_CREATE_IN_FLIGHT = 4;

/**
 * Creates jobs i in [from, to) through the public API, the way a user bulk-loads them: the
 * SDK client's BatchCreateJobs, 1,000 jobs a call, a few calls in flight. Job i is named
 * `${namePrefix}${i}` with the schedule scheduleOf(i). Throws if any item was refused.
 */
export async function createChimeJobs(grpcUrl: string, namePrefix: string, from: number, to: number, scheduleOf: (i: number) => ScheduleSpec): Promise<number> {
  const client = createChimeClient({ baseUrl: grpcUrl, timeoutMs: 120_000 });
  const started = performance.now();
  const chunks: Array<[number, number]> = [];
  for (let start = from; start < to; start += BATCH_CREATE_SIZE) chunks.push([start, Math.min(to, start + BATCH_CREATE_SIZE)]);
  let next = 0;
  let refused = 0;
  let firstRefusal: string | undefined;
  await Promise.all(
    Array.from({ length: Math.min(BATCH_CREATE_IN_FLIGHT, chunks.length) }, async () => {
      while (next < chunks.length) {
        const [start, end] = chunks[next++];
        const jobs: Array<{ job: Job }> = [];
        for (let i = start; i < end; i++) jobs.push({ job: toJob({ name: `${namePrefix}${i}`, queue: QUEUE, schedule: scheduleOf(i) }) });
        const { results } = await client.jobService.batchCreateJobs({ jobs });

        if (results.length !== jobs.length) throw new Error(`BatchCreateJobs answered ${results.length} results for ${jobs.length} jobs`);
        for (const r of results) {
          if (r.result.case === "created") continue;
          refused++;
          firstRefusal ??= r.result.case === "error" ? `${r.result.value.code}: ${r.result.value.message}` : String(r.result.case);
        }
      }
    }),
  );
  if (refused > 0) throw new Error(`BatchCreateJobs refused ${refused} of ${to - from} jobs (first: ${firstRefusal})`);
  return (performance.now() - started) / 1000;
}

/** Dispatch lag (scheduled_time → dispatch_time, i.e. the JetStream publish ack) of the runs in a window, from the run rows. */
export async function dispatchLag(
  databaseUrl: string,
  where = "true",
  params: unknown[] = [],
): Promise<{ runs: number; dispatched: number; p50: number; p99: number; max: number }> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const { rows } = await db.query<{ runs: number; dispatched: number; p50: number; p99: number; max: number }>(
      `SELECT count(*)::int AS runs, count(dispatch_time)::int AS dispatched,
              percentile_disc(0.5) WITHIN GROUP (ORDER BY lag) AS p50,
              percentile_disc(0.99) WITHIN GROUP (ORDER BY lag) AS p99,
              max(lag) AS max
       FROM (SELECT dispatch_time, extract(epoch FROM dispatch_time - scheduled_time) * 1000 AS lag FROM runs WHERE ${where}) r`,
      params,
    );
    const r = rows[0];
    return { runs: r.runs, dispatched: r.dispatched, p50: Number(r.p50), p99: Number(r.p99), max: Number(r.max) };
  } finally {
    await db.end();
  }
}
