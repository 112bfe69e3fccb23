import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { restartable, untilTrue } from "./wait.js";

/** A NATS server (JetStream, file store) of the chaos suite's own, on its own port. */
export async function startNats(port: number) {
  const dir = mkdtempSync(join(tmpdir(), "chime-chaos-nats-"));
  const url = `nats://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;

  async function start(): Promise<void> {
    child = spawn("/usr/sbin/nats-server", ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port)], { stdio: "ignore" });
    await untilTrue("nats-server to accept connections", async () => {
      const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined);
      if (!nc) return false;
      await nc.close();
      return true;
    }, 20_000);
  }

  async function stop(signal: NodeJS.Signals): Promise<void> {
    const running = child;
    child = undefined;
    // A child ended by a signal keeps exitCode null: signalCode says it has ended.
    if (!running || running.exitCode !== null || running.signalCode !== null) return;
    const exited = new Promise((resolve) => running.once("exit", resolve));
    running.kill(signal);
    await exited;
  }

  await start();
  return {
    url,
    /** Stops it with `signal` (SIGTERM: clean; SIGKILL: crash), then starts it again on the same store. */
    ...restartable((how: NodeJS.Signals) => stop(how), start, () => stop("SIGKILL"), dir),
  };
}

export type ChaosNats = Awaited<ReturnType<typeof startNats>>;
