import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { createChimeClient } from "@chime/sdk/web";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";

/**
 * The page talks to the server it was loaded from (same origin) with the Connect
 * protocol. When the server requires a token, it is kept in sessionStorage (never
 * in the URL) and sent as "authorization: Bearer <token>".
 */
const TOKEN_KEY = "chime.apiToken";

type TokenListener = (needed: boolean) => void;
const tokenListeners = new Set<TokenListener>();

export function getToken(): string {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? "";
  } catch {
    return "";
  }
}

export function setToken(token: string): void {
  try {
    if (token) sessionStorage.setItem(TOKEN_KEY, token);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // Storage may be disabled; the token then lasts until the page reloads.
  }
  memoryToken = token;
  for (const listener of tokenListeners) listener(false);
}

let memoryToken = "";

/** Called with true whenever the server refuses a call for want of a (right) token. */
export function onTokenNeeded(listener: TokenListener): () => void {
  tokenListeners.add(listener);
  return () => tokenListeners.delete(listener);
}

const auth: Interceptor = (next) => async (request) => {
  const token = getToken() || memoryToken;
  if (token) request.header.set("authorization", `Bearer ${token}`);
  try {
    return await next(request);
  } catch (error) {
    if (ConnectError.from(error).code === Code.Unauthenticated) {
      for (const listener of tokenListeners) listener(true);
    }
    throw error;
  }
};

const transport = createConnectTransport({
  baseUrl: typeof window === "undefined" ? "http://localhost" : window.location.origin + basePath(),
  interceptors: [auth],
  // JSON keeps the calls readable in the browser's network panel.
  useBinaryFormat: false,
});

/** The path the page is served under (so a reverse proxy may mount it below /). */
function basePath(): string {
  if (typeof window === "undefined") return "";
  return window.location.pathname.replace(/\/(index\.html)?$/, "");
}

/** The SDK's client (plain-value helpers, paging); `jobs` is its generated JobService client. */
export const chime = createChimeClient({ transport });
export const jobs = chime.jobService;
export const watch = createClient(WatchService, transport);
export const alerts = chime.alertService;
export const stats = chime.statsService;
export const admin = chime.adminService;

/** A human message for any error a call throws. */
export function errorMessage(error: unknown): string {
  const e = ConnectError.from(error);
  if (e.code === Code.Unavailable && /fetch|network/i.test(e.rawMessage)) return "the server cannot be reached";
  return e.rawMessage || Code[e.code];
}

/**
 * INVALID_ARGUMENT messages are "field.path: problem; other.field: problem". Splits them
 * into problems by field path (problems naming no field go under "").
 */
export function fieldErrors(error: unknown): Record<string, string[]> | undefined {
  const e = ConnectError.from(error);
  if (e.code !== Code.InvalidArgument) return undefined;
  const result: Record<string, string[]> = {};
  for (const part of splitProblems(e.rawMessage)) {
    const match = /^([a-z_][a-z0-9_]*(?:\[[^\]]*\])?(?:\.[a-z_][a-z0-9_]*(?:\[[^\]]*\])?)*): (.+)$/i.exec(part);
    const [field, problem] = match ? [match[1], match[2]] : ["", part];
    (result[field] ??= []).push(problem);
  }
  return result;
}

/** Splits on "; " only where the next part starts with a field path, so a problem may itself contain "; ". */
function splitProblems(message: string): string[] {
  const parts: string[] = [];
  for (const piece of message.split("; ")) {
    if (parts.length > 0 && !/^[a-z_][a-z0-9_.[\]"-]*: /i.test(piece)) parts[parts.length - 1] += `; ${piece}`;
    else parts.push(piece);
  }
  return parts.map((p) => p.trim()).filter(Boolean);
}
