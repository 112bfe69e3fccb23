import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { ApiKeyRole, NamespaceLimitsSchema, type AdminService, type ApiKey } from "@chime/sdk/gen/admin_service_pb";
import { FieldViolations, invalidArgument, notFound, requireId } from "../api/errors.js";
import { pageSize } from "../api/page-token.js";
import { caller } from "./audit.js";
import type { AuditLog } from "./audit-log.js";
import type { NamespaceLimitStore } from "./namespace-limits.js";
import { checkNamespaceFilter, checkRunRetention, QUEUE_PATTERN } from "../jobs/job-validation.js";
import { toDate } from "../util/time.js";
import type { ApiKeyStore } from "./api-key-store.js";
import { principalOf, requireRole, scopeNamespace, seesNamespace, type Principal } from "./principal.js";

/**
 * chime.v1.AdminService: API keys. Every call needs the admin role; a namespace's admin
 * manages only that namespace's keys (another namespace's key is NOT_FOUND), and only an
 * all-namespaces admin makes all-namespaces keys.
 */
export function createAdminService(deps: {
  keys: ApiKeyStore;
  audit: AuditLog;
  limits: NamespaceLimitStore;
  now: () => Date;
  /** CHIME_EVENT_RETENTION_MS: a namespace's run_retention may not be shorter. */
  eventRetentionMs: number;
}): ServiceImpl<typeof AdminService> {
  const record = (context: HandlerContext, action: string, key: ApiKey) =>
    deps.audit.record([{ ...caller(context), action, target: `api_key/${key.id}`, namespace: key.namespace }]);
  const admin = (context: HandlerContext, action: string): Principal => {
    const principal = principalOf(context);
    if (!principal) throw new Error("AdminService is served only with API keys required");
    requireRole(principal, ApiKeyRole.ADMIN, action);
    return principal;
  };
  return {
    async createApiKey(request, context) {
      const principal = admin(context, "createApiKey");
      const violations = new FieldViolations();
      if (!/^[\x20-\x7e]{1,200}$/.test(request.name) || !request.name.trim()) violations.add("name", "expected 1-200 visible characters");
      if (!(request.role in ApiKeyRole) || request.role === ApiKeyRole.UNSPECIFIED) {
        violations.add("role", "expected API_KEY_ROLE_READER, API_KEY_ROLE_WRITER or API_KEY_ROLE_ADMIN");
      }
      const expireTime = request.expireTime ? toDate(request.expireTime) : undefined;
      if (expireTime && expireTime.getTime() <= deps.now().getTime()) violations.add("expire_time", "must be in the future");
      violations.throwIfAny();
      checkNamespaceFilter(request.namespace);
      const namespace = scopeNamespace(principal, request.namespace) || undefined;
      const { key, secret } = await deps.keys.create({ name: request.name, namespace, role: request.role, expireTime, createdBy: principal.keyId });
      await record(context, "CreateApiKey", key);
      return { apiKey: key, secret };
    },

    async listApiKeys(request, context) {
      const principal = admin(context, "listApiKeys");
      checkNamespaceFilter(request.namespace);
      const namespace = scopeNamespace(principal, request.namespace) || undefined;
      return { apiKeys: await deps.keys.list(namespace, request.includeRevoked) };
    },

    async revokeApiKey(request, context) {
      const principal = admin(context, "revokeApiKey");
      const id = requireId("id", request.id);
      const key = await deps.keys.get(id);
      // A key of all namespaces belongs to no namespace admin.
      if (!key || (principal.namespace !== undefined && !(key.namespace && seesNamespace(principal, key.namespace)))) throw notFound("API key", request.id);
      const revoked = (await deps.keys.revoke(id))!;
      await record(context, "RevokeApiKey", revoked);
      return { apiKey: revoked };
    },

    async setNamespaceLimits(request, context) {
      const principal = admin(context, "setNamespaceLimits");
      if (principal.namespace !== undefined) throw new ConnectError("setNamespaceLimits needs an admin key of all namespaces", Code.PermissionDenied);
      const limits = create(NamespaceLimitsSchema, request.limits ?? {});
      const violations = new FieldViolations();
      if (!limits.namespace) violations.add("limits.namespace", "is required");
      else if (!QUEUE_PATTERN.test(limits.namespace)) violations.add("limits.namespace", "expected 1-64 letters, digits, _ or -");
      if (!Number.isFinite(limits.callsPerSecond) || limits.callsPerSecond < 0) violations.add("limits.calls_per_second", "expected 0 (none) or more");
      if (limits.callBurst < 0) violations.add("limits.call_burst", "expected 0 (one second's worth) or more");
      if (limits.maxJobs < 0n) violations.add("limits.max_jobs", "expected 0 (none) or more");
      if (!Number.isFinite(limits.runsPerSecond) || limits.runsPerSecond < 0) violations.add("limits.runs_per_second", "expected 0 (none) or more");
      if (limits.runBurst < 0) violations.add("limits.run_burst", "expected 0 (one second's worth) or more");
      limits.runRetention = checkRunRetention(limits.runRetention, deps.eventRetentionMs, "limits.run_retention", violations);
      violations.throwIfAny();
      const stored = await deps.limits.set(limits);
      await deps.audit.record([{ ...caller(context), action: "SetNamespaceLimits", target: `namespace/${limits.namespace}`, namespace: limits.namespace }]);
      return { limits: stored };
    },

    async getNamespaceLimits(request, context) {
      const principal = admin(context, "getNamespaceLimits");
      checkNamespaceFilter(request.namespace);
      const namespace = scopeNamespace(principal, request.namespace);
      if (!namespace) throw invalidArgument("namespace: is required");
      return { limits: await deps.limits.get(namespace) };
    },

    async listAuditEntries(request, context) {
      const principal = admin(context, "listAuditEntries");
      checkNamespaceFilter(request.namespace);
      const namespace = scopeNamespace(principal, request.namespace) || undefined;
      const limit = pageSize(request.pageSize);
      if (request.pageToken && !/^\d{1,19}$/.test(request.pageToken)) throw invalidArgument("page_token: not a token this server issued");
      const entries = await deps.audit.list(namespace, request.pageToken ? BigInt(request.pageToken) : undefined, limit + 1);
      const page = entries.slice(0, limit);
      return { entries: page, nextPageToken: entries.length > limit ? String(page[page.length - 1].id) : "" };
    },
  };
}
