import net from "node:net";

/**
 * A TCP proxy in front of a real service (Postgres), so a test can make it unreachable
 * for one server (close: stop listening and cut every connection) and bring it back
 * (open: listen again on the same port) without touching the shared service.
 */
export interface TcpProxy {
  readonly port: number;
  /** Stops listening and destroys every proxied connection. */
  close(): Promise<void>;
  /** Listens again on the same port. */
  open(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let server: net.Server | undefined;
  let port = 0;

  const listen = async () => {
    const next = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      sockets.add(client);
      sockets.add(upstream);
      const end = () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(client);
        sockets.delete(upstream);
      };
      client.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
      client.pipe(upstream);
      upstream.pipe(client);
    });
    await new Promise<void>((resolve, reject) => {
      next.once("error", reject);
      next.listen(port, "127.0.0.1", () => resolve());
    });
    port = (next.address() as net.AddressInfo).port;
    server = next;
  };

  await listen();
  return {
    get port() {
      return port;
    },
    async close() {
      const closing = server;
      server = undefined;
      if (!closing) return;
      const closed = new Promise<void>((resolve) => closing.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      await closed;
    },
    async open() {
      if (server) return;
      // The port was just freed by close(): retry briefly should another listener race for it.
      for (let attempt = 0; ; attempt++) {
        try {
          await listen();
          return;
        } catch (error) {
          if (attempt >= 20 || (error as { code?: string }).code !== "EADDRINUSE") throw error;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    },
  };
}
