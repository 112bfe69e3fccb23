import { createGrpcTransport } from "@connectrpc/connect-node";
import { createChimeClientOn, type ChimeClient, type ChimeClientOptions } from "./client.js";

/**
 * A Chime client over gRPC (HTTP/2, connect-node) to options.baseUrl, or over
 * options.transport when given.
 */
export function createChimeClient(options: ChimeClientOptions): ChimeClient {
  return createChimeClientOn(options, createGrpcTransport);
}
