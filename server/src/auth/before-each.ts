import type { DescService } from "@bufbuild/protobuf";
import type { HandlerContext, ServiceImpl } from "@connectrpc/connect";

/** Wraps every method of a service so `before` runs (and may throw) ahead of it, for unary calls and streams alike. */
export function beforeEach<S extends DescService>(service: S, impl: ServiceImpl<S>, before: (context: HandlerContext) => Promise<void> | void): ServiceImpl<S> {
  const wrapped: Record<string, unknown> = {};
  for (const method of service.methods) {
    const handler = (impl as Record<string, (request: unknown, context: HandlerContext) => unknown>)[method.localName];
    if (!handler) continue;
    wrapped[method.localName] =
      method.methodKind === "server_streaming"
        ? async function* (request: unknown, context: HandlerContext) {
            await before(context);
            yield* handler(request, context) as AsyncIterable<unknown>;
          }
        : async (request: unknown, context: HandlerContext) => {
            await before(context);
            return handler(request, context);
          };
  }
  return wrapped as ServiceImpl<S>;
}
