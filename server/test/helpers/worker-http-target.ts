import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface HttpTarget {
  port: number;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/**
 * A local HTTP server for executor tests. Routes:
 * /ok (200, echoes a short JSON), /big (200, 10 KiB), /status/<n>, /flaky (503 on the first
 * request of each Idempotency-Key, then 200), /slow (answers after 3 s), /redirect?to=<url> (302).
 * Listens on both stacks where it can, so "localhost" reaches it as ::1 or 127.0.0.1.
 */
export async function startHttpTarget(): Promise<HttpTarget> {
  const requests: ReceivedRequest[] = [];
  const seenKeys = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    let body = "";
    req.on("data", (d: Buffer) => (body += d.toString()));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://target");
      requests.push({ method: req.method ?? "", path: url.pathname, headers: req.headers, body });
      const key = String(req.headers["idempotency-key"] ?? "");
      if (url.pathname === "/ok") {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ ok: true, method: req.method }));
      } else if (url.pathname === "/big") {
        res.end("x".repeat(10 * 1024));
      } else if (url.pathname.startsWith("/status/")) {
        res.statusCode = Number(url.pathname.slice("/status/".length));
        res.end(`status ${res.statusCode}`);
      } else if (url.pathname === "/flaky") {
        const seen = (seenKeys.get(key) ?? 0) + 1;
        seenKeys.set(key, seen);
        res.statusCode = seen === 1 ? 503 : 200;
        res.end(seen === 1 ? "try again" : "fine now");
      } else if (url.pathname === "/slow") {
        const timer = setTimeout(() => res.end("late"), 3000);
        res.on("close", () => clearTimeout(timer));
      } else if (url.pathname === "/redirect") {
        res.statusCode = 302;
        res.setHeader("location", url.searchParams.get("to") ?? "/ok");
        res.end();
      } else {
        res.statusCode = 404;
        res.end("no such route");
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", () => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    server.listen(0, "::", resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
