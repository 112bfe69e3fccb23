import { createReadStream } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import type http from "node:http";
import path from "node:path";
import { fileURLToPath } from "node:url";

/**
 * Serves the built dashboard (dashboard/dist, made by `npm run build`) on the HTTP
 * port: `/` is its index.html, `/assets/*` its hashed files. The page routes with
 * the URL hash, so no other path needs to answer with it.
 */

/** Where `npm run build` puts the dashboard, relative to this file in the checkout. */
export const DEFAULT_DASHBOARD_DIR = fileURLToPath(new URL("../../../dashboard/dist", import.meta.url));

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".map": "application/json",
  ".json": "application/json",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".woff2": "font/woff2",
  ".txt": "text/plain; charset=utf-8",
};

const SECURITY_HEADERS = {
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "X-Frame-Options": "DENY",
  // Same-origin scripts, styles and API calls only; inline SVG/data icons allowed.
  "Content-Security-Policy":
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'",
};

const NOT_BUILT = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Chime</title></head>
<body>
<h1>Chime</h1>
<p>The dashboard has not been built. Run <code>npm run build</code> (or <code>npm start</code>, which builds it) in the checkout, then reload.</p>
<p>The API is served here all the same: Connect and gRPC-Web, <a href="/healthz">/healthz</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
`;

export interface DashboardHandler {
  /** Answers a GET or HEAD for the dashboard; false when the path is not the dashboard's. */
  (request: http.IncomingMessage, response: http.ServerResponse): Promise<boolean>;
}

export function createDashboardHandler(dir: string): DashboardHandler {
  const root = path.resolve(dir);
  return async (request, response) => {
    if (request.method !== "GET" && request.method !== "HEAD") return false;
    let pathname: string;
    try {
      pathname = decodeURIComponent(new URL(request.url ?? "/", "http://x").pathname);
    } catch {
      return false;
    }
    if (pathname === "/" || pathname === "/index.html") {
      let html: Buffer | string;
      try {
        html = await readFile(path.join(root, "index.html"));
      } catch {
        html = NOT_BUILT;
      }
      response.writeHead(200, { ...SECURITY_HEADERS, "Content-Type": TYPES[".html"], "Cache-Control": "no-cache" });
      response.end(request.method === "HEAD" ? undefined : html);
      return true;
    }
    if (!pathname.startsWith("/assets/") && !/^\/[\w.-]+\.(svg|png|ico|txt)$/.test(pathname)) return false;
    const file = path.resolve(root, `.${pathname}`);
    // Never outside the build directory (e.g. /assets/../../secret).
    if (!file.startsWith(root + path.sep) || pathname.includes("\0")) return false;
    let size: number;
    try {
      const info = await stat(file);
      if (!info.isFile()) return false;
      size = info.size;
    } catch {
      return false;
    }
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      "Content-Type": TYPES[path.extname(file)] ?? "application/octet-stream",
      "Content-Length": size,
      // Vite names assets by their content hash: they never change under one name.
      "Cache-Control": pathname.startsWith("/assets/") ? "public, max-age=31536000, immutable" : "no-cache",
    });
    if (request.method === "HEAD") response.end();
    else createReadStream(file).on("error", () => response.destroy()).pipe(response);
    return true;
  };
}
