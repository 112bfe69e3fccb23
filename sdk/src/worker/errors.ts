/**
 * Thrown by a handler to fail the run at once, without the retries its policy allows.
 * Any error with `retryable: false` has the same effect.
 */
export class NonRetryableError extends Error {
  readonly retryable = false;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "NonRetryableError";
  }
}

/** The reason a handler's signal aborts when the run is cancelled. */
export class RunCancelledError extends Error {
  constructor(runId: string) {
    super(`run ${runId} was cancelled`);
    this.name = "RunCancelledError";
  }
}

/** The reason a handler's signal aborts when its attempt runs past the job's attempt timeout. */
export class AttemptTimeoutError extends Error {
  constructor(readonly timeoutMs: number) {
    super(`attempt timed out after ${timeoutMs} ms`);
    this.name = "AttemptTimeoutError";
  }
}

/** The reason a handler's signal aborts when the worker stops before the handler finished. */
export class WorkerStoppingError extends Error {
  constructor() {
    super("worker stopping; the run is handed back for another attempt");
    this.name = "WorkerStoppingError";
  }
}

export function isRetryable(error: unknown): boolean {
  return !(typeof error === "object" && error !== null && (error as { retryable?: unknown }).retryable === false);
}

/** The reason a handler's signal aborts when its delivery may be past its ack wait (the process was paused). */
export class DeliverySupersededError extends Error {
  constructor(runId: string) {
    super(`the delivery of run ${runId} was held past its ack wait and may have gone to another worker`);
    this.name = "DeliverySupersededError";
  }
}
