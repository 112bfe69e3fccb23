import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { waitFor } from "./wait.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
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

/**
 * Runs the real server (`server/src/main.ts`) as one child process — `node --import tsx`,
 * not the tsx CLI, so a kill -9 kills the server itself — and waits until it serves.
 */
export async function startServerProcess(serverId: string, env: Record<string, string>): Promise<ServerProcess> {
  const [grpcPort, httpPort] = [await freePort(), await freePort()];
  const child = spawn(process.execPath, ["--import", "tsx", "server/src/main.ts"], {
    cwd: ROOT,
    env: {
      ...process.env,
      CHIME_HOST: "127.0.0.1",
      CHIME_PORT: String(grpcPort),
      CHIME_HTTP_PORT: String(httpPort),
      CHIME_SERVER_ID: serverId,
      CHIME_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: string[] = [];
  const collect = (chunk: Buffer) => logs.push(...chunk.toString().split("\n").filter(Boolean));
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  await waitFor(`server ${serverId} to serve`, async () => {
    if (child.exitCode !== null) throw new Error(`server ${serverId} exited: ${logs.slice(-5).join("\n")}`);
    const response = await fetch(`${httpUrl}/healthz`).catch(() => undefined);
    return response?.status === 200;
  }, { timeoutMs: 30_000, intervalMs: 100 });
  return {
    child,
    serverId,
    grpcUrl: `http://127.0.0.1:${grpcPort}`,
    httpUrl,
    logs,
    exited,
    async kill(signal: NodeJS.Signals = "SIGTERM") {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}
