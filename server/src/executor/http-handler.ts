import type { JsonObject } from "@bufbuild/protobuf";
import { Agent, request, type Dispatcher } from "undici";
import type { WorkerContext, WorkerHandler, WorkerRun } from "@chime/sdk";
import { NonRetryableError } from "@chime/sdk";
import { createGuardedConnector, RefusedDestinationError, type Allowlist } from "./http-guard.js";

/** Bytes of the response body kept in the run's output. */
export const BODY_EXCERPT_BYTES = 4096;
/** Redirects followed at most (each hop checked by the guard). */
export const MAX_REDIRECTS = 5;

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers not carried to another origin on a redirect. */
const CREDENTIAL_HEADERS = ["authorization", "cookie", "proxy-authorization"];

export interface HttpHandlerOptions {
  allowlist: Allowlist;
  /** Sent when the job sets no User-Agent. */
  userAgent?: string;
}

/** A failed response: the status is in the message, so the attempt history shows it. */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    url: string,
    excerpt: string,
  ) {
    super(`HTTP ${status} from ${url}${excerpt ? `: ${excerpt.slice(0, 200)}` : ""}`);
    this.name = "HttpStatusError";
  }
}

/**
 * The built-in http job type: sends the job's HttpRequest with `Idempotency-Key: <run id>`,
 * following redirects by hand (each hop through the SSRF guard), aborting at the attempt
 * timeout or cancellation (the context's signal). A 2xx response succeeds with its status
 * and a bounded body excerpt as output; anything else fails the attempt (retried per policy).
 */
export function createHttpHandler(options: HttpHandlerOptions): WorkerHandler & { close(): Promise<void> } {
  const agent = new Agent({ connect: createGuardedConnector(options.allowlist), connections: 64 });
  const handler = async (run: WorkerRun, context: WorkerContext): Promise<JsonObject> => {
    const spec = run.http;
    if (!spec?.url) throw new NonRetryableError("the job has no http request (http.url is empty)");
    let method = (spec.method || "POST").toUpperCase() as Dispatcher.HttpMethod;
    let body: string | undefined = spec.body === "" ? undefined : spec.body;
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(spec.headers)) headers[name.toLowerCase()] = value;
    headers["idempotency-key"] = run.runId;
    headers["user-agent"] ??= options.userAgent ?? "chime-http-executor";
    let url = parseUrl(spec.url);
    for (let hop = 0; ; hop++) {
      const response = await send(agent, url, method, headers, body, context.signal);
      context.heartbeat();
      if (REDIRECTS.has(response.statusCode) && typeof response.headers.location === "string") {
        await response.body.dump().catch(() => undefined);
        if (hop >= MAX_REDIRECTS) throw new NonRetryableError(`more than ${MAX_REDIRECTS} redirects (last to ${response.headers.location})`);
        const next = parseUrl(response.headers.location, url);
        if (next.origin !== url.origin) for (const name of CREDENTIAL_HEADERS) delete headers[name];
        if (response.statusCode === 303 || ((response.statusCode === 301 || response.statusCode === 302) && method === "POST")) {
          method = "GET";
          body = undefined;
          delete headers["content-type"];
          delete headers["content-length"];
        }
        url = next;
        continue;
      }
      const { excerpt, truncated } = await readExcerpt(response.body, BODY_EXCERPT_BYTES);
      // The response goes in the run's log too, with the headers the job asked to keep.
      const level = response.statusCode >= 200 && response.statusCode <= 299 ? "info" : "error";
      context.log[level](`HTTP ${response.statusCode} from ${url.toString()}`, {
        status: response.statusCode,
        headers: keptHeaders(response.headers, spec.keepHeaders),
        body: excerpt,
        bodyTruncated: truncated,
      });
      if (response.statusCode < 200 || response.statusCode > 299) throw new HttpStatusError(response.statusCode, url.toString(), excerpt);
      const contentType = response.headers["content-type"];
      return {
        status: response.statusCode,
        url: url.toString(),
        redirects: hop,
        contentType: typeof contentType === "string" ? contentType : "",
        body: excerpt,
        bodyTruncated: truncated,
      };
    }
  };
  return Object.assign(handler, { close: () => agent.close() });
}

/** The response's values of the named headers (any case); a repeated header's values joined by ", ". */
function keptHeaders(headers: Record<string, string | string[] | undefined>, names: readonly string[]): JsonObject {
  const kept: JsonObject = {};
  for (const name of names) {
    const value = headers[name.toLowerCase()];
    if (value !== undefined) kept[name.toLowerCase()] = Array.isArray(value) ? value.join(", ") : value;
  }
  return kept;
}

function parseUrl(text: string, base?: URL): URL {
  let url: URL;
  try {
    url = new URL(text, base);
  } catch {
    throw new NonRetryableError(`not a URL: ${JSON.stringify(text.slice(0, 200))}`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new NonRetryableError(`refused ${url.protocol} URL: only http and https`);
  return url;
}

async function send(agent: Agent, url: URL, method: Dispatcher.HttpMethod, headers: Record<string, string>, body: string | undefined, signal: AbortSignal) {
  try {
    return await request(url, { dispatcher: agent, method, headers, body, signal });
  } catch (error) {
    const refused = findRefusal(error);
    if (refused) throw refused;
    if (signal.aborted) throw signal.reason;
    throw error;
  }
}

function findRefusal(error: unknown): RefusedDestinationError | undefined {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if (e instanceof RefusedDestinationError) return e;
  }
  return undefined;
}

async function readExcerpt(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<{ excerpt: string; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  let truncated = false;
  for await (const chunk of body) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) {
      truncated = true;
      break;
    }
  }
  if (truncated) body.destroy();
  return { excerpt: Buffer.concat(chunks).subarray(0, limit).toString("utf8"), truncated };
}
