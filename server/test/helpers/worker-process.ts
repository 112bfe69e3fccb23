import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { TEST_NATS_URL } from "./env.js";

// worker-child.ts compiled (server/test/tsconfig.build.json; the global setup brings it up to date).
const CHILD = fileURLToPath(new URL("../dist/helpers/worker-child.js", import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  workerId: string;
  /** SIGKILL, and resolves when the process is gone. */
  kill(): Promise<void>;
  /** SIGTERM (graceful stop), and resolves when the process exited. */
  stop(): Promise<void>;
}

/** Starts the worker child as a separate Node process and resolves once it pulls runs. */
export async function spawnWorker(options: {
  prefix: string;
  queue: string;
  logFile: string;
  workerId: string;
  concurrency?: number;
  ackWaitMs?: number;
  maxDeliver?: number;
}): Promise<WorkerProcess> {
  const child = spawn(process.execPath, [CHILD], {
    env: {
      ...process.env,
      CHIME_NATS_URL: TEST_NATS_URL,
      CHIME_NATS_PREFIX: options.prefix,
      CHIME_QUEUE: options.queue,
      CHIME_WORKER_LOG: options.logFile,
      CHIME_WORKER_ID: options.workerId,
      CHIME_CONCURRENCY: String(options.concurrency ?? 50),
      CHIME_ACK_WAIT_MS: String(options.ackWaitMs ?? 30_000),
      CHIME_MAX_DELIVER: String(options.maxDeliver ?? 100),
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`worker ${options.workerId} not ready in 20 s: ${stderr}`)), 20_000);
    child.stdout!.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`worker ${options.workerId} exited (${code}) before ready: ${stderr}`));
    });
  });
  return {
    child,
    workerId: options.workerId,
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await exited;
    },
  };
}

export interface WorkerEvent {
  event: "start" | "abort" | "end";
  runId: string;
  attempt: number;
  workerId: string;
  t: number;
  reason?: string;
}

/** The handler events the worker processes recorded. */
export function readWorkerLog(logFile: string): WorkerEvent[] {
  let text: string;
  try {
    text = readFileSync(logFile, "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .filter(Boolean)
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as WorkerEvent];
      } catch {
        return []; // a line cut by kill -9
      }
    });
}
