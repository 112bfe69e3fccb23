import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { natsServerBinary } from "./nats-process.js";
import { freePort } from "./server-process.js";
import { waitFor } from "./wait.js";

/** A JetStream cluster of the test's own: `size` nats-server processes routed to each other on loopback. */
export async function startNatsCluster(size = 3) {
  const dir = await mkdtemp(join(tmpdir(), "chime-nats-cluster-"));
  const nodes = await Promise.all(
    Array.from({ length: size }, async (_, i) => ({ name: `n${i}`, port: await freePort(), clusterPort: await freePort(), child: undefined as ChildProcess | undefined })),
  );
  const routes = nodes.map((n) => `nats://127.0.0.1:${n.clusterPort}`).join(",");
  const urls = nodes.map((n) => `nats://127.0.0.1:${n.port}`);
  for (const node of nodes) {
    node.child = spawn(
      natsServerBinary(),
      ["-js", "-sd", join(dir, node.name), "-n", node.name, "-a", "127.0.0.1", "-p", String(node.port),
        "--cluster_name", "chime-test", "--cluster", `nats://127.0.0.1:${node.clusterPort}`, "--routes", routes],
      { stdio: "ignore" },
    );
  }
  // Ready once JetStream answers through every node (the meta leader is elected).
  await waitFor("the JetStream cluster to elect its meta leader", async () => {
    for (const url of urls) {
      const nc = await connect({ servers: url, reconnect: false }).catch(() => undefined);
      if (!nc) return false;
      try {
        const info = await (await jetstreamManager(nc)).getAccountInfo().catch(() => undefined);
        if (!info) return false;
      } finally {
        await nc.close();
      }
    }
    return true;
  }, { timeoutMs: 30_000, intervalMs: 250 });

  return {
    urls,
    /** SIGKILL of one node. */
    async kill(index: number) {
      const child = nodes[index].child;
      // A process killed by a signal keeps exitCode null: signalCode says it has ended.
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once("exit", resolve));
      child.kill("SIGKILL");
      await exited;
    },
    async close() {
      await Promise.all(nodes.map((_, i) => this.kill(i)));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
