import { createContextValues } from "@connectrpc/connect";
import type { Compression, UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";
import { compressionBrotli, compressionGzip } from "@connectrpc/connect-node";
import { fromBinary, type DescMessage } from "@bufbuild/protobuf";
import { base64Decode } from "@bufbuild/protobuf/wire";
import { binaryProblem, DECODE_PROBLEM, holdsPayload, jsonProblem, walkProblem } from "../api/decode-problem.js";

/**
 * Checks Connect and gRPC-Web request bodies before connect-node decodes them. connect-es
 * answers an undecodable binary body INTERNAL, and a bad JSON one with protobuf-es's text,
 * which names a message type (or leaks a RangeError) rather than the field. A body found
 * bad here is swapped for an empty message and its problem put in the context values, where
 * hardenService turns it into INVALID_ARGUMENT naming the field, in the protocol's own error
 * format (connect writes it, as for any handler error).
 */

const COMPRESSIONS = new Map<string, Compression>([
  [compressionGzip.name, compressionGzip],
  [compressionBrotli.name, compressionBrotli],
]);

interface BodyFormat {
  binary: boolean;
  /** Enveloped (5-byte frame header): Connect streaming and gRPC-Web. */
  enveloped: boolean;
  /** The header naming the body's compression. */
  encodingHeader: string;
}

function formatOf(contentType: string): BodyFormat | undefined {
  const type = contentType.split(";")[0].trim().toLowerCase();
  switch (type) {
    case "application/proto":
    case "application/json":
      return { binary: type === "application/proto", enveloped: false, encodingHeader: "content-encoding" };
    case "application/connect+proto":
    case "application/connect+json":
      return { binary: type.endsWith("proto"), enveloped: true, encodingHeader: "connect-content-encoding" };
    case "application/grpc-web":
    case "application/grpc-web+proto":
    case "application/grpc-web+json":
      return { binary: !type.endsWith("json"), enveloped: true, encodingHeader: "grpc-encoding" };
    default:
      return undefined;
  }
}

async function* replay(chunks: Uint8Array[]): AsyncIterable<Uint8Array> {
  yield* chunks;
}

/** The message a body carries (its first frame when enveloped), decompressed; undefined when connect must judge it. */
async function messageOf(body: Uint8Array, format: BodyFormat, encoding: string | null, readMaxBytes: number): Promise<{ bytes: Uint8Array; flags: number } | undefined> {
  let bytes = body;
  let flags = 0;
  if (format.enveloped) {
    if (body.length < 5) return undefined;
    flags = body[0];
    const length = new DataView(body.buffer, body.byteOffset, 5).getUint32(1);
    if (body.length !== 5 + length) return undefined; // several frames or a short one: connect's framing errors apply
    bytes = body.subarray(5);
  }
  const compressed = format.enveloped ? (flags & 1) === 1 : Boolean(encoding && encoding !== "identity");
  if (compressed) {
    const compression = encoding ? COMPRESSIONS.get(encoding) : undefined;
    if (!compression) return undefined;
    try {
      bytes = await compression.decompress(bytes, readMaxBytes);
    } catch {
      return undefined;
    }
  }
  return { bytes, flags };
}

function emptyBody(format: BodyFormat): Uint8Array {
  const message = format.binary ? new Uint8Array(0) : new TextEncoder().encode("{}");
  if (!format.enveloped) return message;
  const frame = new Uint8Array(5 + message.length);
  new DataView(frame.buffer).setUint32(1, message.length);
  frame.set(message, 5);
  return frame;
}

/** Binary bodies are decoded as gRPC's are (problems looked for only when protobuf-es fails); JSON ones strictly. */
function problemOf(input: DescMessage, bytes: Uint8Array, binary: boolean): string | undefined {
  if (!binary) return jsonProblem(input, new TextDecoder().decode(bytes));
  const found = holdsPayload(input) ? walkProblem(input, bytes) : undefined;
  if (found) return found;
  try {
    fromBinary(input, bytes);
    return undefined;
  } catch {
    return binaryProblem(input, bytes);
  }
}

/** The problem in a Connect GET's `message` query parameter (side-effect-free methods), or undefined. */
function queryProblem(handler: UniversalHandler, url: URL): string | undefined {
  const params = url.searchParams;
  // Compressed messages are left to connect-node, as are unknown encodings.
  if (params.has("compression") && params.get("compression") !== "identity") return undefined;
  const encoding = params.get("encoding");
  if (encoding !== "proto" && encoding !== "json") return undefined;
  const raw = params.get("message") ?? "";
  let bytes: Uint8Array;
  try {
    bytes = params.get("base64") === "1" ? base64Decode(raw) : new TextEncoder().encode(raw);
  } catch {
    return "message: not valid base64";
  }
  return problemOf(handler.method.input, bytes, encoding === "proto");
}

function withProblem(request: UniversalServerRequest, problem: string) {
  const contextValues = request.contextValues ?? createContextValues();
  contextValues.set(DECODE_PROBLEM, problem);
  return contextValues;
}

export function strictBodies(handler: UniversalHandler, readMaxBytes: number): UniversalHandler {
  const check = async (request: UniversalServerRequest) => {
    if (request.method === "GET") {
      const url = new URL(request.url);
      const problem = queryProblem(handler, url);
      if (!problem) return handler(request);
      // An empty message instead, so the handler runs (and answers the problem, in hardenService).
      url.searchParams.set("message", url.searchParams.get("encoding") === "json" ? "{}" : "");
      url.searchParams.delete("base64");
      return handler({ ...request, url: url.toString(), contextValues: withProblem(request, problem) });
    }
    const format = formatOf(request.header.get("content-type") ?? "");
    if (request.method !== "POST" || !format || !(Symbol.asyncIterator in Object(request.body))) return handler(request);
    // Read the body (connect would too), stopping at the size limit: beyond it connect refuses the call.
    const chunks: Uint8Array[] = [];
    let size = 0;
    const iterator = (request.body as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
    for (;;) {
      const next = await iterator.next();
      if (next.done) break;
      chunks.push(next.value);
      size += next.value.length;
      if (size > readMaxBytes + 5) {
        const rest = { [Symbol.asyncIterator]: () => iterator };
        return handler({ ...request, body: (async function* () { yield* chunks; yield* rest; })() });
      }
    }
    const body = Buffer.concat(chunks);
    const message = await messageOf(body, format, request.header.get(format.encodingHeader), readMaxBytes);
    const problem = message ? problemOf(handler.method.input, message.bytes, format.binary) : undefined;
    if (!problem) return handler({ ...request, body: replay([body]) });
    const empty = emptyBody(format);
    request.header.delete(format.encodingHeader);
    request.header.set("content-length", String(empty.length));
    return handler({ ...request, body: replay([empty]), contextValues: withProblem(request, problem) });
  };
  return Object.assign(check, handler);
}
