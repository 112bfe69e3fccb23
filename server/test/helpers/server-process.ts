import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
/** The compiled server program (npm run build:node; the global setup brings it up to date). */
export const SERVER_MAIN = "server/dist/main.js";

/**
 * A port that is free now, for a process that must keep one port across restarts (a NATS server
 * the test stops and starts again). It is drawn below the kernel's ephemeral range (32768 and up
 * on Linux), so outgoing connections and port-0 listeners of other test files never take it.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (await canListen(port)) return port;
  }
}

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

export interface ServerProcess {
  child: ChildProcess;
  serverId: string;
  grpcUrl: string;
  httpUrl: string;
  /** Every log line the process printed. */
  logs: string[];
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): Promise<number | null>;
}

/** The ports a server reports in its "chime server started" log line, once it has printed it. */
function startedPorts(logs: string[]): { grpcPort: number; httpPort: number } | undefined {
  for (const line of logs) {
    if (!line.includes("chime server started")) continue;
    const { grpcPort, httpPort } = JSON.parse(line) as { grpcPort: number; httpPort: number };
    return { grpcPort, httpPort };
  }
  return undefined;
}

/**
 * Runs the real server, compiled (`server/dist/main.js`, built by the global setup), as one
 * child process, and waits until it serves. `nodeArgs` go before the program (a preload, say).
 * The server binds ports of the kernel's choosing (port 0) and the helper reads them from its
 * start-up log line (logged at info, so the level stays info): probing for a free port first
 * would race other test files for it.
 */
export async function startServerProcess(
  serverId: string,
  env: Record<string, string>,
  options: { nodeArgs?: string[] } = {},
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), SERVER_MAIN], {
    cwd: ROOT,
    env: {
      ...process.env,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: "0",
      CHIME_HTTP_PORT: "0",
      CHIME_SERVER_ID: serverId,
      CHIME_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  collectLines(child.stdout!, logs);
  collectLines(child.stderr!, logs);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  let ports: { grpcPort: number; httpPort: number } | undefined;
  await waitFor(`server ${serverId} to serve`, async () => {
    if (child.exitCode !== null) throw new Error(`server ${serverId} exited: ${logs.slice(-5).join("\n")}`);
    ports ??= startedPorts(logs);
    if (!ports) return false;
    const response = await fetch(`http://127.0.0.1:${ports.httpPort}/healthz`).catch(() => undefined);
    return response?.status === 200;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  return {
    child,
    serverId,
    grpcUrl: `http://127.0.0.1:${ports!.grpcPort}`,
    httpUrl: `http://127.0.0.1:${ports!.httpPort}`,
    logs,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

/** Appends each complete line the stream prints to `lines` (a chunk may end mid-line). */
function collectLines(stream: NodeJS.ReadableStream, lines: string[]): void {
  let partial = "";
  stream.on("data", (chunk: Buffer) => {
    const parts = (partial + chunk.toString()).split("\n");
    partial = parts.pop()!;
    lines.push(...parts.filter(Boolean));
  });
}
