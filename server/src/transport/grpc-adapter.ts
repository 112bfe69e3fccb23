import { create, fromBinary, toBinary, type DescMethod, type DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, createContextValues, createHandlerContext, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type { Logger } from "../logger.js";
import { binaryProblem, holdsPayload, walkProblem } from "../api/decode-problem.js";
import { invalidArgument } from "../api/errors.js";
import { PEER, peerFromGrpc } from "../api/peer.js";

/**
 * Serves a connect-style ServiceImpl on a @grpc/grpc-js server: the same handlers the
 * Connect stack runs, with protobuf-es doing the (de)serialisation, so there is one
 * set of generated types and no proto-loader in the server.
 */
export interface GrpcAdapterOptions {
  /** Aborted when the server shuts down, so streams and long handlers end. */
  shutdownSignal: AbortSignal;
  logger: Logger;
  /**
   * Encoders written for particular response messages, by type name, used instead of
   * protobuf-es's reflective toBinary (which they must match byte for byte).
   */
  responseEncoders?: ReadonlyMap<string, (message: never) => Uint8Array>;
}

export function addServiceImpl<S extends DescService>(
  server: grpc.Server,
  service: S,
  impl: Partial<ServiceImpl<S>>,
  options: GrpcAdapterOptions,
): void {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind !== "unary" && method.methodKind !== "server_streaming") {
      throw new Error(`${service.typeName}.${method.name}: only unary and server-streaming methods are supported`);
    }
    const encode = options.responseEncoders?.get(method.output.typeName);
    definition[method.localName] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: false,
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: (message) => Buffer.from(toBinary(method.input, message as never)),
      requestDeserialize: (bytes: Buffer) => decodeRequest(method, bytes),
      responseSerialize: encode
        ? (message) => toBuffer(encode(message as never))
        : (message) => toBuffer(toBinary(method.output, message as never)),
      responseDeserialize: (bytes: Buffer) => fromBinary(method.output, bytes),
      originalName: method.localName,
    };
    const handler = (impl as Record<string, unknown>)[method.localName] as
      | ((request: unknown, context: HandlerContext) => unknown)
      | undefined;
    handlers[method.localName] =
      method.methodKind === "unary"
        ? unaryHandler(service, method, handler, options)
        : serverStreamingHandler(service, method, handler, options);
  }
  server.addService(definition, handlers);
}

/**
 * A request that did not decode. grpc-js answers a throwing deserializer INTERNAL, so the
 * problem travels to the handler instead, which answers INVALID_ARGUMENT naming the field.
 */
class UndecodableRequest {
  constructor(readonly problem: string) {}
}

function decodeRequest(method: DescMethod, bytes: Buffer): unknown {
  if (holdsPayload(method.input)) {
    const problem = walkProblem(method.input, bytes);
    if (problem) return new UndecodableRequest(problem);
  }
  try {
    return fromBinary(method.input, bytes);
  } catch {
    return new UndecodableRequest(binaryProblem(method.input, bytes) ?? `body: not a valid ${method.input.typeName} message`);
  }
}

/** A Buffer over the same bytes (grpc-js wants a Buffer; Buffer.from(Uint8Array) would copy them). */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * The reason a stream's context is aborted with once its handler is done (which releases its
 * listener on the shutdown signal). One shared value: aborting without a reason would build
 * an AbortError, with its stack trace, each time.
 */
const CALL_ENDED = new ConnectError("the call ended", Code.Canceled);

/**
 * The context of a server-streaming call: its signal aborts when the client goes away or the
 * server shuts down (streams run until then: no request timeout).
 */
function streamContext(service: DescService, method: DescMethod, call: grpc.ServerWritableStream<unknown, unknown>, options: GrpcAdapterOptions) {
  const requestAbort = new AbortController();
  // grpc-js may report "cancelled" as the stream closes after the handler is done too: only a
  // call still running is cancelled (and pays for the error).
  call.on("cancelled", () => {
    if (!context.signal.aborted) requestAbort.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  });
  const context = createHandlerContext({
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/${service.typeName}/${method.name}`,
    shutdownSignal: options.shutdownSignal,
    requestSignal: requestAbort.signal,
    requestHeader: stringMetadata(call.metadata),
  });
  context.values.set(PEER, peerFromGrpc(call.getPeer()));
  return context;
}

/**
 * The context of a unary call, built directly. createHandlerContext links three abort
 * signals (deadline, client, server shutdown) and makes three Headers objects per call, a
 * large share of a small call's cost. Unary handlers here watch neither signal (the deadline
 * is enforced around them, in error-mapping.ts, and a shutdown lets running calls finish),
 * so the signal aborts only when the client cancels; headers are made when first read.
 */
function unaryContext(service: DescService, method: DescMethod, call: grpc.ServerUnaryCall<unknown, unknown>, timeoutMs: number | undefined) {
  const cancel = new AbortController();
  let ended = false;
  // grpc-js may report "cancelled" as the stream closes after the handler is done, too.
  call.on("cancelled", () => {
    if (!ended) cancel.abort(new ConnectError("the client cancelled the call", Code.Canceled));
  });
  const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
  let requestHeader: Headers | undefined;
  let responseHeader: Headers | undefined;
  let responseTrailer: Headers | undefined;
  const context: HandlerContext = {
    service,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: `/${service.typeName}/${method.name}`,
    signal: cancel.signal,
    timeoutMs: () => (deadline === undefined ? undefined : deadline - Date.now()),
    get requestHeader() {
      return (requestHeader ??= new Headers(stringMetadata(call.metadata)));
    },
    get responseHeader() {
      return (responseHeader ??= new Headers());
    },
    get responseTrailer() {
      return (responseTrailer ??= new Headers());
    },
    values: createContextValues().set(PEER, peerFromGrpc(call.getPeer())),
  };
  return { context, end: () => void (ended = true) };
}

/** A call's metadata entries with string values (binary ones are left out), as header fields. */
function stringMetadata(metadata: grpc.Metadata): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    if (typeof value === "string") fields[key] = value;
  }
  return fields;
}

/** The time left before the call's deadline, if it has one (the handler layer applies the default). */
function deadlineMs(call: grpc.ServerUnaryCall<unknown, unknown>): number | undefined {
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : Number(deadline);
  if (!Number.isFinite(at) || at <= 0) return undefined;
  return Math.max(0, at - Date.now());
}

function unaryHandler(
  service: DescService,
  method: DescMethod,
  handler: ((request: unknown, context: HandlerContext) => unknown) | undefined,
  options: GrpcAdapterOptions,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    if (!handler) return callback(unimplemented(service, method));
    if (call.request instanceof UndecodableRequest) return callback(toServiceError(invalidArgument(call.request.problem), method, options.logger));
    const { context, end } = unaryContext(service, method, call, deadlineMs(call));
    Promise.resolve()
      .then(() => handler(call.request, context))
      .then(
        (response) => callback(null, create(method.output, response as never)),
        (error: unknown) => callback(toServiceError(error, method, options.logger)),
      )
      .finally(end);
  };
}

function serverStreamingHandler(
  service: DescService,
  method: DescMethod,
  handler: ((request: unknown, context: HandlerContext) => unknown) | undefined,
  options: GrpcAdapterOptions,
): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    if (!handler) {
      call.emit("error", unimplemented(service, method));
      return;
    }
    if (call.request instanceof UndecodableRequest) {
      call.emit("error", toServiceError(invalidArgument(call.request.problem), method, options.logger));
      return;
    }
    const context = streamContext(service, method, call, options);
    void (async () => {
      try {
        for await (const message of handler(call.request, context) as AsyncIterable<unknown>) {
          if (context.signal.aborted) break;
          // Respect HTTP/2 flow control: wait for the socket to drain before writing more.
          if (!call.write(create(method.output, message as never))) {
            await new Promise<void>((resolve) => {
              const done = () => {
                call.off("drain", done);
                context.signal.removeEventListener("abort", done);
                resolve();
              };
              call.on("drain", done);
              context.signal.addEventListener("abort", done, { once: true });
            });
          }
        }
        if (!call.cancelled) call.end();
      } catch (error) {
        if (!call.cancelled) call.emit("error", toServiceError(error, method, options.logger));
      } finally {
        context.abort(CALL_ENDED);
      }
    })();
  };
}

function unimplemented(service: DescService, method: DescMethod): Partial<grpc.StatusObject> {
  return { code: grpc.status.UNIMPLEMENTED, details: `${service.typeName}.${method.name} is not implemented` };
}

/** Connect codes share their numbers with gRPC status codes. */
function toServiceError(error: unknown, method: DescMethod, logger: Logger): Partial<grpc.StatusObject> {
  if (error instanceof ConnectError) {
    return { code: error.code as number as grpc.status, details: error.rawMessage, metadata: detailsMetadata(error) };
  }
  logger.error({ err: error, method: method.name }, "unhandled error in handler");
  return { code: grpc.status.INTERNAL, details: "internal error" };
}

/** Error details (google.rpc.BadRequest, …) as grpc-status-details-bin, encoded as connect's gRPC stack does. */
function detailsMetadata(error: ConnectError): grpc.Metadata | undefined {
  if (error.details.length === 0) return undefined;
  const encoded = setTrailerStatus(new Headers(), error).get("grpc-status-details-bin");
  if (!encoded) return undefined;
  const metadata = new grpc.Metadata();
  metadata.set("grpc-status-details-bin", Buffer.from(encoded, "base64"));
  return metadata;
}
