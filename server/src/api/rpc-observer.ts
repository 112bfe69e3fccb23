import type { DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { Logger } from "../logger.js";
import type { Metrics } from "../metrics.js";

/**
 * Wraps every method of a (hardened) service so each call is counted by method and status
 * code, unary calls are timed, open streams are gauged, and one request log line is written
 * per call at `debug`. Outermost wrapper: it sees the code the caller gets, on both ports.
 */
export function observeService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  metrics: Pick<Metrics, "rpcRequests" | "rpcDuration" | "rpcStreamsOpen">,
  logger: Logger,
): ServiceImpl<S> {
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, (request: unknown, context: HandlerContext) => unknown>)[method.localName];
    if (!handler) continue;
    const name = `${service.typeName}/${method.name}`;
    const done = (request: unknown, started: number, error: unknown) => {
      const code = codeName(error);
      const seconds = (performance.now() - started) / 1000;
      metrics.rpcRequests.inc({ method: name, code });
      if (logger.isLevelEnabled("debug")) {
        logger.debug({ method: name, code, ms: Math.round(seconds * 1000), namespace: namespaceOf(request) }, "rpc");
      }
      return seconds;
    };
    wrapped[method.localName] =
      method.methodKind === "server_streaming"
        ? async function* (request: unknown, context: HandlerContext) {
            const started = performance.now();
            metrics.rpcStreamsOpen.inc({ method: name });
            let failure: unknown;
            try {
              yield* handler(request, context) as AsyncIterable<unknown>;
            } catch (error) {
              failure = error;
              throw error;
            } finally {
              metrics.rpcStreamsOpen.dec({ method: name });
              done(request, started, failure);
            }
          }
        : async (request: unknown, context: HandlerContext) => {
            const started = performance.now();
            try {
              const response = await handler(request, context);
              metrics.rpcDuration.observe({ method: name }, done(request, started, undefined));
              return response;
            } catch (error) {
              metrics.rpcDuration.observe({ method: name }, done(request, started, error));
              throw error;
            }
          };
  }
  return wrapped as ServiceImpl<S>;
}

/** gRPC status names by code (InvalidArgument → INVALID_ARGUMENT), built once rather than per call. */
const CODE_NAMES = new Map(
  Object.values(Code)
    .filter((code): code is Code => typeof code === "number")
    .map((code) => [code, Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase()]),
);

/** The gRPC status name a caller sees: OK, or the ConnectError's code (UNKNOWN for anything else). */
function codeName(error: unknown): string {
  if (error === undefined) return "OK";
  return CODE_NAMES.get(error instanceof ConnectError ? error.code : Code.Unknown)!;
}

/** The request's top-level namespace (ListJobs, WatchRuns filters), when it has one. */
function namespaceOf(request: unknown): string | undefined {
  const value = (request as { namespace?: unknown } | null)?.namespace;
  return typeof value === "string" && value !== "" ? value : undefined;
}
