/**
 * Errors the stores throw in their own terms; `api/error-mapping.ts` is the one place that
 * turns them into gRPC codes, so a store never needs to know which transport called it.
 */

/** The thing asked for does not exist (NOT_FOUND). */
export class NotFoundError extends Error {
  constructor(what: string, id: string) {
    super(`${what} ${JSON.stringify(id)} not found`);
    this.name = "NotFoundError";
  }
}

/** The thing exists but is not in a state that allows the change (FAILED_PRECONDITION). */
export class PreconditionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "PreconditionError";
  }
}
