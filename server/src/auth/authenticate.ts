import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import type { DescService } from "@bufbuild/protobuf";
import type { ApiKeyStore } from "./api-key-store.js";
import { PRINCIPAL, ROOT_PRINCIPAL, type Principal } from "./principal.js";
import { beforeEach } from "./before-each.js";

export type Authenticator = (authorization: string | null) => Promise<Principal>;

const unauthenticated = (why: string) =>
  new ConnectError(`${why}: send the header "authorization: Bearer <key>"`, Code.Unauthenticated);

/**
 * Finds the caller of an "authorization: Bearer <key>" header: CHIME_API_TOKEN (compared in
 * constant time) is the all-namespaces admin; any other key is looked up by its hash.
 * Missing, unknown, expired and revoked keys are UNAUTHENTICATED.
 */
export function createAuthenticator(token: string, store: ApiKeyStore, now: () => Date): Authenticator {
  const expected = createHash("sha256").update(`Bearer ${token}`).digest();
  return async (authorization) => {
    if (!authorization) throw unauthenticated("missing API key");
    const given = createHash("sha256").update(authorization).digest();
    if (timingSafeEqual(given, expected)) return ROOT_PRINCIPAL;
    const match = /^Bearer (\S{1,512})$/.exec(authorization);
    const key = match ? await store.findBySecret(match[1]) : undefined;
    if (!key) throw unauthenticated("unknown API key");
    if (key.revokeTime) throw unauthenticated(`API key ${key.id} was revoked`);
    if (key.expireTime && Number(key.expireTime.seconds) * 1000 <= now().getTime()) throw unauthenticated(`API key ${key.id} expired`);
    return { keyId: key.id, name: key.name, namespace: key.namespace || undefined, role: key.role };
  };
}

/**
 * Wraps every method of a service so it runs only for an authenticated caller, whose
 * Principal it finds in the context values (PRINCIPAL). Both stacks (grpc-js metadata,
 * Connect/gRPC-Web headers) reach it through the handler context.
 */
export function requireApiKey<S extends DescService>(service: S, impl: ServiceImpl<S>, authenticate: Authenticator): ServiceImpl<S> {
  return beforeEach(service, impl, async (context: HandlerContext) => {
    context.values.set(PRINCIPAL, await authenticate(context.requestHeader.get("authorization")));
  });
}
