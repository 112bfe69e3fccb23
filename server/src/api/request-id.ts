import { invalidArgument } from "./errors.js";

const MAX_REQUEST_ID_CHARS = 200;

/** Checks an idempotency key (CreateJob's, and each BatchCreateJobs item's). */
export function validateRequestId(requestId: string, field: string): void {
  if (requestId.length > MAX_REQUEST_ID_CHARS) throw invalidArgument(`${field}: longer than ${MAX_REQUEST_ID_CHARS} characters`);
}
