import { createHash } from "node:crypto";
import { invalidArgument } from "../api/errors.js";

/**
 * Resume tokens are opaque to clients: a version, the event cursor, and a short check so
 * a mistyped or truncated token is INVALID_ARGUMENT instead of a silent jump elsewhere.
 */
const VERSION = "w1";

function check(cursor: number): string {
  return createHash("sha256").update(`chime-watch:${cursor}`).digest("base64url").slice(0, 6);
}

export function encodeResumeToken(cursor: number): string {
  return Buffer.from(`${VERSION}.${cursor.toString(36)}.${check(cursor)}`).toString("base64url");
}

/** The cursor a token names; throws INVALID_ARGUMENT (naming the field) when malformed. */
export function decodeResumeToken(token: string, field = "resume_token"): number {
  const bad = () => invalidArgument(`${field}: not a resume token this service issued; pass the resume_token of an event or keepalive as it was sent`);
  if (token.length > 64 || !/^[A-Za-z0-9_-]+$/.test(token)) throw bad();
  const parts = Buffer.from(token, "base64url").toString("utf8").split(".");
  if (parts.length !== 3 || parts[0] !== VERSION || !/^[0-9a-z]{1,11}$/.test(parts[1])) throw bad();
  const cursor = parseInt(parts[1], 36);
  if (!Number.isSafeInteger(cursor) || parts[2] !== check(cursor)) throw bad();
  return cursor;
}
