import type { ServiceImpl } from "@connectrpc/connect";
import { AdminService } from "@chime/sdk/gen/admin_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import type pg from "pg";
import { createAdminService } from "./admin-service.js";
import { createApiKeyStore } from "./api-key-store.js";
import { createAuthenticator, requireApiKey } from "./authenticate.js";
import { authorizeJobService, authorizeWatchService } from "./authorize.js";

/**
 * API keys, on when CHIME_API_TOKEN is set (that token is the bootstrap all-namespaces
 * admin): each service implementation is wrapped so a call first finds its key, then is
 * checked against the key's role and namespace. Off, the services are served as they are
 * and AdminService is not served.
 */
export function createAuth(options: { apiToken: string; pool: pg.Pool; now: () => Date }) {
  if (!options.apiToken) {
    return { authenticate: undefined, jobService: <T>(impl: T) => impl, watchService: <T>(impl: T) => impl, adminService: undefined };
  }
  const keys = createApiKeyStore(options.pool);
  const authenticate = createAuthenticator(options.apiToken, keys, options.now);
  return {
    authenticate,
    jobService: (impl: ServiceImpl<typeof JobService>) => requireApiKey(JobService, authorizeJobService(impl, options.pool), authenticate),
    watchService: (impl: ServiceImpl<typeof WatchService>) => requireApiKey(WatchService, authorizeWatchService(impl, options.pool), authenticate),
    adminService: requireApiKey(AdminService, createAdminService({ keys, now: options.now }), authenticate),
  };
}
