import { createContextKey } from "@connectrpc/connect";

/** The caller's address as each stack sees it ("127.0.0.1:51234", "[::1]:40000"), for the audit log. */
export const PEER = createContextKey<string>("", { description: "the caller's address" });

/** grpc-js peers read "ipv4:1.2.3.4:5" or "ipv6:[::1]:5": the address without the scheme. */
export function peerFromGrpc(peer: string): string {
  return peer.replace(/^(ipv4|ipv6|unix):/, "");
}
