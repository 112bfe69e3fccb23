import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { DescMessage, DescService } from "@bufbuild/protobuf";
import { NotFoundError, PreconditionError } from "../domain/errors.js";
import type { Logger } from "../logger.js";
import { checkRequestShape } from "./request-shape.js";
import { DECODE_PROBLEM } from "./decode-problem.js";
import { invalidArgument } from "./errors.js";

const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "57P01", "57P03", "08006", "08001"]);

/** Whether an error means a dependency (Postgres) could not be reached, so a retry may succeed. */
function isUnavailable(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) ||
    /Connection terminated|timeout exceeded when trying to connect|connect ECONNREFUSED/i.test(e.message ?? "")
  );
}

/** Turns any error a handler throws into a ConnectError a client can act on (both stacks share this). */
export function toConnectError(error: unknown, logger: Logger, method: string): ConnectError {
  if (error instanceof ConnectError) return error;
  if (error instanceof NotFoundError) return new ConnectError(error.message, Code.NotFound);
  if (error instanceof PreconditionError) return new ConnectError(error.message, Code.FailedPrecondition);
  if (isUnavailable(error)) {
    logger.warn({ err: error, method }, "dependency unavailable");
    return new ConnectError("the database is unavailable; retry later", Code.Unavailable);
  }
  logger.error({ err: error, method }, "unhandled error in handler");
  return new ConnectError("internal error", Code.Internal);
}

/** A body that did not decode (found by strict-bodies.ts), then the decoded request's values. */
function checkRequest(input: DescMessage, request: unknown, context: HandlerContext): void {
  const problem = context.values.get(DECODE_PROBLEM);
  if (problem) throw invalidArgument(problem);
  checkRequestShape(input, request as never);
}

/**
 * Wraps every method of a service implementation for both stacks: unary calls get a
 * deadline (the client's, capped at `requestTimeoutMs`), every request's timestamps,
 * durations and payloads are checked (request-shape.ts), and any error becomes a
 * ConnectError with the right code.
 */
export function hardenService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  logger: Logger,
  requestTimeoutMs: number,
): ServiceImpl<S> {
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, (...args: unknown[]) => unknown>)[method.localName];
    if (!handler) continue;
    if (method.methodKind === "server_streaming") {
      wrapped[method.localName] = async function* (request: unknown, context: unknown) {
        try {
          checkRequest(method.input, request, context as HandlerContext);
          yield* handler(request, context) as AsyncIterable<unknown>;
        } catch (error) {
          throw toConnectError(error, logger, method.name);
        }
      };
    } else {
      wrapped[method.localName] = async (request: unknown, context: HandlerContext) => {
        const timeoutMs = Math.min(context.timeoutMs() ?? requestTimeoutMs, requestTimeoutMs);
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new ConnectError(`the request took longer than ${timeoutMs} ms`, Code.DeadlineExceeded)),
            timeoutMs,
          );
        });
        try {
          checkRequest(method.input, request, context);
          return await Promise.race([handler(request, context), deadline]);
        } catch (error) {
          throw toConnectError(error, logger, method.name);
        } finally {
          clearTimeout(timer);
        }
      };
    }
  }
  return wrapped as ServiceImpl<S>;
}
