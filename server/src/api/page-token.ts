import { createHash } from "node:crypto";
import { invalidArgument } from "./errors.js";

/**
 * Opaque page tokens: the last key of the page plus a digest of the filters, so a
 * token used with other filters is refused instead of silently skipping rows.
 */
export function encodePageToken(key: unknown[], filters: unknown): string {
  return Buffer.from(JSON.stringify({ k: key, f: digest(filters) })).toString("base64url");
}

export function decodePageToken(token: string, filters: unknown): unknown[] | undefined {
  if (!token) return undefined;
  let parsed: { k?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidArgument("page_token: not a token this server issued");
  }
  if (!parsed || !Array.isArray(parsed.k) || typeof parsed.f !== "string") {
    throw invalidArgument("page_token: not a token this server issued");
  }
  if (parsed.f !== digest(filters)) {
    throw invalidArgument("page_token: was issued for other filters; send the same filters as the first page");
  }
  return parsed.k;
}

export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

export function pageSize(requested: number): number {
  if (requested < 0) throw invalidArgument("page_size: must not be negative");
  if (requested === 0) return DEFAULT_PAGE_SIZE;
  if (requested > MAX_PAGE_SIZE) throw invalidArgument(`page_size: must be at most ${MAX_PAGE_SIZE}`);
  return requested;
}

function digest(filters: unknown): string {
  return createHash("sha256").update(JSON.stringify(filters)).digest("base64url").slice(0, 16);
}
