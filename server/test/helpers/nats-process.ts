import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "@nats-io/transport-node";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./server-process.js";
import { waitFor } from "./wait.js";

export function natsServerBinary(): string {
  for (const candidate of ["/usr/sbin/nats-server", "/usr/bin/nats-server", "/usr/local/bin/nats-server"]) {
    if (existsSync(candidate)) return candidate;
  }
  return "nats-server";
}

/** A NATS server of the test's own (JetStream, file store), which the test may stop and restart. */
export async function startNatsProcess() {
  const port = await freePort();
  const storeDir = await mkdtemp(join(tmpdir(), "chime-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function start() {
    child = spawn(natsServerBinary(), ["-js", "-sd", storeDir, "-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    await waitFor("nats-server to accept connections", async () => {
      const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined);
      if (!nc) return false;
      await nc.close();
      return true;
    }, { timeoutMs: 10_000, intervalMs: 100 });
  }

  async function stop() {
    const running = child;
    child = undefined;
    if (!running || running.exitCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill("SIGKILL");
    await exited;
  }

  await start();
  return {
    url,
    restart: async (downMs: number) => {
      await stop();
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await start();
    },
    stop,
    /** Sends a signal to the running nats-server (SIGSTOP hangs it: connections stay open, nothing answers). */
    signal(signal: NodeJS.Signals) {
      child?.kill(signal);
    },
    async close() {
      child?.kill("SIGCONT");
      await stop();
      await rm(storeDir, { recursive: true, force: true });
    },
  };
}
