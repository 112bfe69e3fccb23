import { Code, ConnectError, createContextKey, type HandlerContext } from "@connectrpc/connect";
import { ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";

/** Who is calling: the key the call carried (CHIME_API_TOKEN is an all-namespaces admin). */
export interface Principal {
  /** The key's id; empty for CHIME_API_TOKEN. */
  keyId: string;
  name: string;
  /** The one namespace the key may use; undefined for all. */
  namespace?: string;
  role: ApiKeyRole;
}

export const ROOT_PRINCIPAL: Principal = { keyId: "", name: "CHIME_API_TOKEN", role: ApiKeyRole.ADMIN };

/** Set by the authentication wrapper for every call when keys are required. */
export const PRINCIPAL = createContextKey<Principal | undefined>(undefined, { description: "the caller's API key" });

export function principalOf(context: HandlerContext): Principal | undefined {
  return context.values.get(PRINCIPAL);
}

const ROLE_NAMES: Record<number, string> = { [ApiKeyRole.READER]: "reader", [ApiKeyRole.WRITER]: "writer", [ApiKeyRole.ADMIN]: "admin" };

export function requireRole(principal: Principal, role: ApiKeyRole, action: string): void {
  if (principal.role < role) {
    throw new ConnectError(`${action} needs the ${ROLE_NAMES[role]} role; this key is a ${ROLE_NAMES[principal.role]}`, Code.PermissionDenied);
  }
}

/** Whether the principal may see a namespace's jobs. */
export function seesNamespace(principal: Principal, namespace: string): boolean {
  return principal.namespace === undefined || principal.namespace === namespace;
}

/**
 * The namespace a call without one acts in: the key's own (a scoped key), else none. A
 * namespace the key may not use is PERMISSION_DENIED: naming it reveals nothing about it.
 */
export function scopeNamespace(principal: Principal, requested: string, field = "namespace"): string {
  if (!requested) return principal.namespace ?? "";
  if (!seesNamespace(principal, requested)) {
    throw new ConnectError(`${field}: this key is for namespace ${JSON.stringify(principal.namespace)}, not ${JSON.stringify(requested)}`, Code.PermissionDenied);
  }
  return requested;
}
