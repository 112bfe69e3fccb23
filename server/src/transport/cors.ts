import type http from "node:http";
import { cors } from "@connectrpc/connect";

/**
 * Which browser origins may call the HTTP port (CHIME_CORS_ORIGINS). Same-origin calls
 * (the dashboard the server serves) need no entry; "*" allows any origin, for a public API
 * whose every call carries a key.
 */
export type CorsOrigins = { any: true } | { any: false; origins: ReadonlySet<string> };

export const SAME_ORIGIN_ONLY: CorsOrigins = { any: false, origins: new Set() };

/** Parses a comma-separated list of origins ("https://app.example.com,http://localhost:5173") or "*". */
export function parseCorsOrigins(raw: string): CorsOrigins {
  const items = raw.split(",").map((item) => item.trim()).filter(Boolean);
  if (items.length === 1 && items[0] === "*") return { any: true };
  const origins = new Set<string>();
  for (const item of items) {
    let url: URL;
    try {
      url = new URL(item);
    } catch {
      throw new Error(`${JSON.stringify(item)} is not an origin (expected scheme://host[:port], or * alone)`);
    }
    if (!["http:", "https:"].includes(url.protocol) || url.origin !== item.replace(/\/$/, "") || url.pathname !== "/") {
      throw new Error(`${JSON.stringify(item)} is not an origin (expected scheme://host[:port] with no path, or * alone)`);
    }
    origins.add(url.origin);
  }
  return { any: false, origins };
}

// connect-es's lists (Connect, gRPC-Web headers; grpc-status and grpc-message exposed),
// plus the API key header the SDK and the dashboard send.
const ALLOW_METHODS = cors.allowedMethods.join(", ");
const ALLOW_HEADERS = [...cors.allowedHeaders, "Authorization"].join(", ");
const EXPOSE_HEADERS = cors.exposedHeaders.join(", ");

export type CorsDecision = "same-origin" | "allowed" | "refused";

/** Whether a request's Origin (its header) is the server's own or may call it. */
export function corsDecision(policy: CorsOrigins, origin: string | undefined, host: string | undefined, secure: boolean): CorsDecision {
  if (origin === undefined) return "same-origin";
  if (host !== undefined && origin === `${secure ? "https" : "http"}://${host}`) return "same-origin";
  if (policy.any || policy.origins.has(origin)) return "allowed";
  return "refused";
}

/**
 * Applies the policy to a request; returns true when it answered the request itself (a
 * preflight, or a cross-origin call from an origin not allowed, refused with 403 before
 * it reaches a handler, so a page elsewhere cannot even fire a request with side effects).
 */
export function applyCors(policy: CorsOrigins, request: http.IncomingMessage, response: http.ServerResponse, secure: boolean): boolean {
  const origin = request.headers.origin;
  const decision = corsDecision(policy, origin, request.headers.host, secure);
  const preflight = request.method === "OPTIONS" && request.headers["access-control-request-method"] !== undefined;
  if (decision === "refused") {
    // A cross-origin GET can be sent but not read (no Allow-Origin), so only requests that can change things are stopped.
    if (!preflight && (request.method === "GET" || request.method === "HEAD")) return false;
    response.writeHead(403, { "Content-Type": "text/plain", Vary: "Origin" });
    response.end(`origin ${origin} is not allowed: add it to CHIME_CORS_ORIGINS\n`);
    return true;
  }
  if (decision === "same-origin") return false;
  response.setHeader("Access-Control-Allow-Origin", origin!);
  response.setHeader("Vary", "Origin");
  if (preflight) {
    response.writeHead(204, {
      "Access-Control-Allow-Methods": ALLOW_METHODS,
      "Access-Control-Allow-Headers": ALLOW_HEADERS,
      "Access-Control-Max-Age": "7200",
    });
    response.end();
    return true;
  }
  response.setHeader("Access-Control-Expose-Headers", EXPOSE_HEADERS);
  return false;
}
