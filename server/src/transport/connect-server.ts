import { setMaxListeners } from "node:events";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createConnectRouter, createContextValues, type ServiceImpl } from "@connectrpc/connect";
import { PEER } from "../api/peer.js";
import type { UniversalHandler } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip, universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { STRICT_JSON } from "../api/decode-problem.js";
import { strictBodies } from "./strict-bodies.js";
import type { Authenticator } from "../auth/authenticate.js";
import { isProbedRole, readinessOf, type HealthMonitor, type ProbedRole } from "./health.js";
import type { Metrics } from "../metrics.js";
import { createDashboardHandler, type DashboardHandler } from "./dashboard.js";
import type { TlsMaterial, TlsSource } from "./tls-files.js";
import { applyCors, type CorsOrigins } from "./cors.js";

export interface ConnectServerOptions {
  services: Array<{ service: DescService; impl: ServiceImpl<DescService> }>;
  host: string;
  port: number;
  maxMessageBytes: number;
  requestTimeoutMs: number;
  shutdownSignal: AbortSignal;
  health: HealthMonitor;
  /** The process's roles, whose dependencies /readyz checks. */
  roles: ReadonlySet<ProbedRole>;
  metrics: Metrics;
  /** The built dashboard to serve at `/` (the api role); none when undefined. */
  dashboardDir?: string;
  /** HTTPS (and mTLS with a client CA) instead of plain HTTP; reloaded when its files change. */
  tls?: TlsSource;
  /** Browser origins besides the server's own that may call (CHIME_CORS_ORIGINS). */
  corsOrigins: CorsOrigins;
  /** Set: /metrics needs an all-namespaces API key (CHIME_METRICS_ACCESS=key). */
  metricsAuth?: Authenticator;
}

/**
 * Connect and gRPC-Web over HTTP/1.1 (browsers, curl), plus /healthz, /livez, /readyz and /metrics.
 * gRPC clients use the grpc-js port instead: it is the fast path.
 */
export async function startConnectServer(options: ConnectServerOptions) {
  // Every call in flight listens to the shutdown signal: many at once is normal, not a leak.
  setMaxListeners(0, options.shutdownSignal);
  const dashboard = options.dashboardDir ? createDashboardHandler(options.dashboardDir) : undefined;
  const handler = createHandler(options, (request, response) => {
    void serveOps(request, response, options, dashboard).catch(() => {
      response.writeHead(500).end();
    });
  });
  const listener = (request: http.IncomingMessage, response: http.ServerResponse) => {
    if (applyCors(options.corsOrigins, request, response, options.tls !== undefined)) return;
    handler(request, response);
  };
  const tls = options.tls;
  const server = tls ? https.createServer(httpsOptions(tls, tls.current()), listener) : http.createServer(listener);
  if (tls && server instanceof https.Server) tls.onChange((material) => server.setSecureContext(httpsOptions(tls, material)));
  server.requestTimeout = options.requestTimeoutMs + 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    async close(graceMs: number) {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await closed;
      clearTimeout(timer);
    },
  };
}

/**
 * connect-node's adapter (connectNodeAdapter), with each method's handler behind
 * strictBodies, so malformed bodies are INVALID_ARGUMENT naming the field, and strict JSON.
 */
function createHandler(options: ConnectServerOptions, fallback: (request: http.IncomingMessage, response: http.ServerResponse) => void) {
  const router = createConnectRouter({
    grpc: false,
    grpcWeb: true,
    connect: true,
    readMaxBytes: options.maxMessageBytes,
    writeMaxBytes: options.maxMessageBytes,
    acceptCompression: [compressionGzip, compressionBrotli],
    jsonOptions: STRICT_JSON,
    // No maxTimeoutMs: connect-node would refuse (invalid_argument) a client deadline
    // above it, where gRPC clients get theirs capped. hardenService caps both alike.
    shutdownSignal: options.shutdownSignal,
  });
  for (const { service, impl } of options.services) router.service(service, impl);
  const paths = new Map<string, UniversalHandler>(router.handlers.map((h) => [h.requestPath, strictBodies(h, options.maxMessageBytes)]));
  return (request: http.IncomingMessage, response: http.ServerResponse) => {
    const uHandler = paths.get((request.url ?? "").split("?", 2)[0]);
    if (!uHandler) return fallback(request, response);
    const values = createContextValues().set(PEER, `${request.socket.remoteAddress ?? ""}:${request.socket.remotePort ?? ""}`);
    uHandler(universalRequestFromNodeRequest(request, response, undefined, values))
      .then((uResponse) => universalResponseToNodeResponse(uResponse, response))
      .catch((reason: unknown) => {
        // A client that went away aborts the call: nothing to report.
        if (ConnectError.from(reason).code !== Code.Aborted) response.destroy(reason as Error);
      });
  };
}

function httpsOptions(source: TlsSource, material: TlsMaterial): https.ServerOptions {
  const mutual = Boolean(source.files.clientCaFile);
  return { cert: material.cert, key: material.key, ca: material.ca, requestCert: mutual, rejectUnauthorized: mutual };
}

/** Whether the request carries an all-namespaces key (metrics count every tenant); answers 401/403 if not. */
async function operatorKey(authenticate: Authenticator, request: http.IncomingMessage, response: http.ServerResponse): Promise<boolean> {
  try {
    const principal = await authenticate(request.headers.authorization ?? null);
    if (principal.namespace === undefined) return true;
    response.writeHead(403, { "Content-Type": "text/plain" }).end("/metrics needs a key of all namespaces\n");
  } catch (error) {
    response.writeHead(401, { "Content-Type": "text/plain", "WWW-Authenticate": "Bearer" }).end(`${ConnectError.from(error).rawMessage}\n`);
  }
  return false;
}

async function serveOps(request: http.IncomingMessage, response: http.ServerResponse, options: ConnectServerOptions, dashboard?: DashboardHandler) {
  const path = (request.url ?? "/").split("?")[0];
  if (path === "/healthz") {
    const report = options.health.current();
    response.writeHead(report.status === "SERVING" ? 200 : 503, { "Content-Type": "application/json" });
    response.end(JSON.stringify(report));
    return;
  }
  if (path === "/livez" || path === "/readyz") return serveProbe(path, request, response, options);
  if (path === "/metrics") {
    if (options.metricsAuth && !(await operatorKey(options.metricsAuth, request, response))) return;
    response.writeHead(200, { "Content-Type": options.metrics.registry.contentType });
    response.end(await options.metrics.registry.metrics());
    return;
  }
  if (dashboard && (await dashboard(request, response))) return;
  response.writeHead(404, { "Content-Type": "text/plain" });
  response.end("not found\n");
}

/**
 * /livez answers 200 while the process serves; /readyz 200 when every role of the process
 * (or only the one of ?role=, e.g. a load balancer in front of the api) has its dependencies.
 */
function serveProbe(path: string, request: http.IncomingMessage, response: http.ServerResponse, options: ConnectServerOptions) {
  const reply = (status: number, body: unknown) => {
    response.writeHead(status, { "Content-Type": "application/json", "Cache-Control": "no-store" });
    response.end(JSON.stringify(body));
  };
  if (path === "/livez") return reply(200, { live: true });
  const asked = new URL(request.url ?? "/", "http://probe").searchParams.get("role");
  if (asked !== null && !(isProbedRole(asked) && options.roles.has(asked))) {
    return reply(400, { error: `role: ${JSON.stringify(asked)} is not a role of this process (${[...options.roles].join(", ")})` });
  }
  const readiness = readinessOf(options.health.current(), asked === null ? options.roles : [asked]);
  reply(readiness.ready ? 200 : 503, readiness);
}
