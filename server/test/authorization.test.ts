import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError, createClient, type Client, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { AdminService, ApiKeyRole } from "@chime/sdk/gen/admin_service_pb";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { WatchService } from "@chime/sdk/gen/watch_service_pb";
import { AlertChannelKind, AlertCondition, AlertService } from "@chime/sdk/gen/alert_service_pb";
import { StatsService } from "@chime/sdk/gen/stats_service_pb";
import { natsLayout } from "@chime/sdk";
import { connect } from "@nats-io/transport-node";
import { AckPolicy, jetstreamManager } from "@nats-io/jetstream";
import { TEST_NATS_URL } from "./helpers/env.js";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * The authorization matrix: every RPC and stream × caller (no key, a wrong one, an expired
 * one, a revoked one, reader, writer and admin keys of namespace teamA, CHIME_API_TOKEN) ×
 * a target in the key's own namespace or in another's, on gRPC and on Connect. Each cell's
 * code is what the roles say: another namespace's job, run, alert channel or alert rule is
 * NOT_FOUND, naming another namespace is PERMISSION_DENIED, a missing role is
 * PERMISSION_DENIED, a bad key UNAUTHENTICATED.
 */

const ROOT = "root-token-for-tests";
/** A call that succeeded (connect's Code has no OK: an error always has a code). */
const OK = 0 as Code;
const JOB = { queue: "q", schedule: { kind: { case: "cron" as const, value: { expression: "0 0 1 1 *" } } } };

type Clients = {
  jobs: Client<typeof JobService>;
  watch: Client<typeof WatchService>;
  admin: Client<typeof AdminService>;
  alerts: Client<typeof AlertService>;
  stats: Client<typeof StatsService>;
};
type Caller = "none" | "wrong" | "expired" | "revoked" | "reader" | "writer" | "admin" | "root";
const CALLERS: Caller[] = ["none", "wrong", "expired", "revoked", "reader", "writer", "admin", "root"];
const ROLE_OF: Partial<Record<Caller, ApiKeyRole>> = { reader: ApiKeyRole.READER, writer: ApiKeyRole.WRITER, admin: ApiKeyRole.ADMIN, root: ApiKeyRole.ADMIN };

let server: TestServer;
const secrets: Partial<Record<Caller, string>> = {};
let root: Clients;
let jobA: string;
let jobB: string;
let runB: string;
/** An ended run of teamB: WatchRunLogs of it ends at once for the callers it is served to. */
let endedRunB: string;
let channelA: string;
let channelB: string;
let ruleA: string;
let ruleB: string;

function clients(transport: (interceptors: Interceptor[]) => Transport, secret: string | undefined): Clients {
  const interceptors: Interceptor[] = secret
    ? [(next) => (request) => {
        request.header.set("authorization", `Bearer ${secret}`);
        return next(request);
      }]
    : [];
  const t = transport(interceptors);
  return {
    jobs: createClient(JobService, t),
    watch: createClient(WatchService, t),
    admin: createClient(AdminService, t),
    alerts: createClient(AlertService, t),
    stats: createClient(StatsService, t),
  };
}

const grpcTransport = (interceptors: Interceptor[]) => createGrpcTransport({ baseUrl: server.grpcUrl, interceptors });
const connectTransport = (interceptors: Interceptor[]) => createConnectTransport({ baseUrl: server.httpUrl, httpVersion: "1.1", interceptors });

/** A fresh job of a namespace, made with CHIME_API_TOKEN (cells that change or delete one get their own). */
async function freshJob(namespace: string): Promise<string> {
  return (await root.jobs.createJob({ job: { ...JOB, name: `j-${Math.random().toString(36).slice(2)}`, namespace } })).job!.id;
}

async function freshRun(namespace: string): Promise<string> {
  return (await root.jobs.triggerJob({ id: await freshJob(namespace) })).run!.id;
}

async function endedRun(namespace: string): Promise<string> {
  const id = await freshRun(namespace);
  await root.jobs.cancelRun({ id });
  return id;
}

const unique = (prefix: string) => `${prefix}-${Math.random().toString(36).slice(2)}`;
const CHANNEL = { kind: AlertChannelKind.WEBHOOK, url: "https://example.com/hook" };

async function freshChannel(namespace: string): Promise<string> {
  return (await root.alerts.createAlertChannel({ channel: { ...CHANNEL, name: unique("ch"), namespace } })).channel!.id;
}

async function freshRule(namespace: string, channelId: string): Promise<string> {
  return (await root.alerts.createAlertRule({ rule: { name: unique("rule"), namespace, channelId, condition: AlertCondition.RUN_FAILED } })).rule!.id;
}

async function firstMessage(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const message of stream) {
    void message;
    return;
  }
}

interface Cell {
  rpc: string;
  role: ApiKeyRole;
  own: (c: Clients) => Promise<unknown>;
  other: (c: Clients) => Promise<unknown>;
  /** What a key of teamA with the role gets for the other namespace's target. */
  otherCode: Code;
  /** What a key of all namespaces gets for it (default OK): a rule cannot point across namespaces for anyone. */
  rootOtherCode?: Code;
  /** Only for keys of all namespaces: a key of one namespace, whatever its role, is PERMISSION_DENIED. */
  allNamespacesOnly?: true;
}

const cells: Cell[] = [
  { rpc: "GetJob", role: ApiKeyRole.READER, own: (c) => c.jobs.getJob({ id: jobA }), other: (c) => c.jobs.getJob({ id: jobB }), otherCode: Code.NotFound },
  { rpc: "ListJobs", role: ApiKeyRole.READER, own: (c) => c.jobs.listJobs({}), other: (c) => c.jobs.listJobs({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "CreateJob", role: ApiKeyRole.WRITER, own: (c) => c.jobs.createJob({ job: { ...JOB, name: `c-${Math.random()}` } }), other: (c) => c.jobs.createJob({ job: { ...JOB, name: `c-${Math.random()}`, namespace: "teamB" } }), otherCode: Code.PermissionDenied },
  { rpc: "BatchCreateJobs", role: ApiKeyRole.WRITER, own: (c) => c.jobs.batchCreateJobs({ jobs: [{ job: { ...JOB, name: `b-${Math.random()}`, namespace: "teamA" } }] }), other: (c) => c.jobs.batchCreateJobs({ jobs: [{ job: { ...JOB, name: `b-${Math.random()}`, namespace: "teamB" } }] }), otherCode: Code.PermissionDenied },
  { rpc: "UpdateJob", role: ApiKeyRole.WRITER, own: (c) => c.jobs.updateJob({ job: { id: jobA, queue: "q2" }, updateMask: { paths: ["queue"] } }), other: (c) => c.jobs.updateJob({ job: { id: jobB, queue: "q2" }, updateMask: { paths: ["queue"] } }), otherCode: Code.NotFound },
  { rpc: "PauseJob", role: ApiKeyRole.WRITER, own: async (c) => c.jobs.pauseJob({ id: await freshJob("teamA") }), other: async (c) => c.jobs.pauseJob({ id: await freshJob("teamB") }), otherCode: Code.NotFound },
  { rpc: "ResumeJob", role: ApiKeyRole.WRITER, own: async (c) => {
    const id = await freshJob("teamA");
    await root.jobs.pauseJob({ id });
    return c.jobs.resumeJob({ id });
  }, other: async (c) => {
    const id = await freshJob("teamB");
    await root.jobs.pauseJob({ id });
    return c.jobs.resumeJob({ id });
  }, otherCode: Code.NotFound },
  { rpc: "TriggerJob", role: ApiKeyRole.WRITER, own: async (c) => c.jobs.triggerJob({ id: await freshJob("teamA") }), other: async (c) => c.jobs.triggerJob({ id: await freshJob("teamB") }), otherCode: Code.NotFound },
  { rpc: "DeleteJob", role: ApiKeyRole.WRITER, own: async (c) => c.jobs.deleteJob({ id: await freshJob("teamA") }), other: async (c) => c.jobs.deleteJob({ id: await freshJob("teamB") }), otherCode: Code.NotFound },
  { rpc: "GetRun", role: ApiKeyRole.READER, own: async (c) => c.jobs.getRun({ id: await freshRun("teamA") }), other: (c) => c.jobs.getRun({ id: runB }), otherCode: Code.NotFound },
  { rpc: "GetRunLogs", role: ApiKeyRole.READER, own: async (c) => c.jobs.getRunLogs({ runId: await freshRun("teamA") }), other: (c) => c.jobs.getRunLogs({ runId: runB }), otherCode: Code.NotFound },
  { rpc: "ListRuns", role: ApiKeyRole.READER, own: (c) => c.jobs.listRuns({ jobId: jobA }), other: (c) => c.jobs.listRuns({ jobId: jobB }), otherCode: Code.NotFound },
  { rpc: "ListRuns(namespace)", role: ApiKeyRole.READER, own: (c) => c.jobs.listRuns({}), other: (c) => c.jobs.listRuns({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "ListScheduleEvents", role: ApiKeyRole.READER, own: (c) => c.jobs.listScheduleEvents({ jobId: jobA }), other: (c) => c.jobs.listScheduleEvents({ jobId: jobB }), otherCode: Code.NotFound },
  { rpc: "CancelRun", role: ApiKeyRole.WRITER, own: async (c) => c.jobs.cancelRun({ id: await freshRun("teamA") }), other: async (c) => c.jobs.cancelRun({ id: await freshRun("teamB") }), otherCode: Code.NotFound },
  { rpc: "PreviewSchedule", role: ApiKeyRole.READER, own: (c) => c.jobs.previewSchedule({ schedule: JOB.schedule, count: 1 }), other: (c) => c.jobs.previewSchedule({ schedule: JOB.schedule, count: 1 }), otherCode: OK },
  { rpc: "GetSchedulerStatus", role: ApiKeyRole.READER, own: (c) => c.jobs.getSchedulerStatus({}), other: (c) => c.jobs.getSchedulerStatus({}), otherCode: OK },
  { rpc: "WatchRuns", role: ApiKeyRole.READER, own: (c) => firstMessage(c.watch.watchRuns({})), other: (c) => firstMessage(c.watch.watchRuns({ namespace: "teamB" })), otherCode: Code.PermissionDenied },
  { rpc: "WatchRunLogs", role: ApiKeyRole.READER, own: async (c) => firstMessage(c.watch.watchRunLogs({ runId: await endedRun("teamA") })), other: (c) => firstMessage(c.watch.watchRunLogs({ runId: endedRunB })), otherCode: Code.NotFound },
  { rpc: "WatchJob", role: ApiKeyRole.READER, own: (c) => firstMessage(c.watch.watchJob({ id: jobA })), other: (c) => firstMessage(c.watch.watchJob({ id: jobB })), otherCode: Code.NotFound },
  { rpc: "CreateAlertChannel", role: ApiKeyRole.WRITER, own: (c) => c.alerts.createAlertChannel({ channel: { ...CHANNEL, name: unique("ch") } }), other: (c) => c.alerts.createAlertChannel({ channel: { ...CHANNEL, name: unique("ch"), namespace: "teamB" } }), otherCode: Code.PermissionDenied },
  { rpc: "ListAlertChannels", role: ApiKeyRole.READER, own: (c) => c.alerts.listAlertChannels({}), other: (c) => c.alerts.listAlertChannels({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "DeleteAlertChannel", role: ApiKeyRole.WRITER, own: async (c) => c.alerts.deleteAlertChannel({ id: await freshChannel("teamA") }), other: async (c) => c.alerts.deleteAlertChannel({ id: await freshChannel("teamB") }), otherCode: Code.NotFound },
  { rpc: "CreateAlertRule", role: ApiKeyRole.WRITER, own: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamA", channelId: channelA, jobId: jobA, condition: AlertCondition.RUN_FAILED } }), other: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamB", channelId: channelB, jobId: jobB, condition: AlertCondition.RUN_FAILED } }), otherCode: Code.PermissionDenied },
  { rpc: "CreateAlertRule(channel)", role: ApiKeyRole.WRITER, own: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamA", channelId: channelA, condition: AlertCondition.RUN_ENDED } }), other: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamA", channelId: channelB, condition: AlertCondition.RUN_ENDED } }), otherCode: Code.NotFound, rootOtherCode: Code.NotFound },
  { rpc: "CreateAlertRule(job)", role: ApiKeyRole.WRITER, own: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamA", channelId: channelA, jobId: jobA, condition: AlertCondition.RUN_ENDED } }), other: (c) => c.alerts.createAlertRule({ rule: { name: unique("rule"), namespace: "teamA", channelId: channelA, jobId: jobB, condition: AlertCondition.RUN_ENDED } }), otherCode: Code.NotFound, rootOtherCode: Code.NotFound },
  { rpc: "ListAlertRules", role: ApiKeyRole.READER, own: (c) => c.alerts.listAlertRules({}), other: (c) => c.alerts.listAlertRules({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "DeleteAlertRule", role: ApiKeyRole.WRITER, own: async (c) => c.alerts.deleteAlertRule({ id: await freshRule("teamA", channelA) }), other: async (c) => c.alerts.deleteAlertRule({ id: await freshRule("teamB", channelB) }), otherCode: Code.NotFound },
  { rpc: "ListAlertDeliveries", role: ApiKeyRole.READER, own: (c) => c.alerts.listAlertDeliveries({ ruleId: ruleA }), other: (c) => c.alerts.listAlertDeliveries({ ruleId: ruleB }), otherCode: Code.NotFound },
  { rpc: "ListAlertDeliveries(namespace)", role: ApiKeyRole.READER, own: (c) => c.alerts.listAlertDeliveries({}), other: (c) => c.alerts.listAlertDeliveries({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "GetJobStats", role: ApiKeyRole.READER, own: (c) => c.stats.getJobStats({ jobId: jobA }), other: (c) => c.stats.getJobStats({ jobId: jobB }), otherCode: Code.NotFound },
  { rpc: "GetQueueStats", role: ApiKeyRole.READER, own: (c) => c.stats.getQueueStats({ queue: "q" }), other: (c) => c.stats.getQueueStats({ queue: "q", namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "GetRunSeries", role: ApiKeyRole.READER, own: (c) => c.stats.getRunSeries({}), other: (c) => c.stats.getRunSeries({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "CreateApiKey", role: ApiKeyRole.ADMIN, own: (c) => c.admin.createApiKey({ name: "made", role: ApiKeyRole.READER }), other: (c) => c.admin.createApiKey({ name: "made", namespace: "teamB", role: ApiKeyRole.READER }), otherCode: Code.PermissionDenied },
  { rpc: "ListApiKeys", role: ApiKeyRole.ADMIN, own: (c) => c.admin.listApiKeys({}), other: (c) => c.admin.listApiKeys({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  // Limits govern a namespace's keys: set by an operator, never by the namespace's own admin. Zero limits: none.
  { rpc: "SetNamespaceLimits", role: ApiKeyRole.ADMIN, allNamespacesOnly: true, own: (c) => c.admin.setNamespaceLimits({ limits: { namespace: "teamA" } }), other: (c) => c.admin.setNamespaceLimits({ limits: { namespace: "teamB" } }), otherCode: Code.PermissionDenied },
  { rpc: "GetNamespaceLimits", role: ApiKeyRole.ADMIN, own: (c) => c.admin.getNamespaceLimits({ namespace: "teamA" }), other: (c) => c.admin.getNamespaceLimits({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "ListAuditEntries", role: ApiKeyRole.ADMIN, own: (c) => c.admin.listAuditEntries({}), other: (c) => c.admin.listAuditEntries({ namespace: "teamB" }), otherCode: Code.PermissionDenied },
  { rpc: "RevokeApiKey", role: ApiKeyRole.ADMIN, own: async (c) => {
    const { apiKey } = await root.admin.createApiKey({ name: "to revoke", namespace: "teamA", role: ApiKeyRole.READER });
    return c.admin.revokeApiKey({ id: apiKey!.id });
  }, other: async (c) => {
    const { apiKey } = await root.admin.createApiKey({ name: "of B", namespace: "teamB", role: ApiKeyRole.READER });
    return c.admin.revokeApiKey({ id: apiKey!.id });
  }, otherCode: Code.NotFound },
];

function expected(cell: Cell, caller: Caller, target: "own" | "other"): Code {
  const role = ROLE_OF[caller];
  if (role === undefined) return Code.Unauthenticated;
  if (role < cell.role) return Code.PermissionDenied;
  if (cell.allNamespacesOnly && caller !== "root") return Code.PermissionDenied;
  if (target === "own") return OK;
  if (caller === "root") return cell.rootOtherCode ?? OK;
  return cell.otherCode;
}

async function codeOf(call: Promise<unknown>): Promise<Code> {
  try {
    await call;
    return OK;
  } catch (error) {
    return ConnectError.from(error).code;
  }
}

beforeAll(async () => {
  server = await startTestServer({ CHIME_ROLES: "api", CHIME_API_TOKEN: ROOT, CHIME_WATCH_KEEPALIVE_MS: "100" });
  root = clients(grpcTransport, ROOT);
  for (const caller of ["reader", "writer", "admin"] as const) {
    secrets[caller] = (await root.admin.createApiKey({ name: caller, namespace: "teamA", role: ROLE_OF[caller]! })).secret;
  }
  const expiring = await root.admin.createApiKey({ name: "expired", namespace: "teamA", role: ApiKeyRole.ADMIN, expireTime: { seconds: BigInt(Math.floor(Date.now() / 1000) + 3600) } });
  // Expired an hour early: the key's expiry passes without the test waiting for it.
  await server.pool.query("UPDATE api_keys SET expire_time = now() - interval '1 second' WHERE id = $1", [expiring.apiKey!.id]);
  secrets.expired = expiring.secret;
  const revoked = await root.admin.createApiKey({ name: "revoked", namespace: "teamA", role: ApiKeyRole.ADMIN });
  await root.admin.revokeApiKey({ id: revoked.apiKey!.id });
  secrets.revoked = revoked.secret;
  secrets.wrong = `${secrets.admin!.slice(0, -4)}AAAA`;
  secrets.root = ROOT;
  jobA = await freshJob("teamA");
  jobB = await freshJob("teamB");
  runB = await freshRun("teamB");
  endedRunB = await endedRun("teamB");
  channelA = await freshChannel("teamA");
  channelB = await freshChannel("teamB");
  ruleA = await freshRule("teamA", channelA);
  ruleB = await freshRule("teamB", channelB);
});
afterAll(async () => server?.close());

describe("the authorization matrix", () => {
  it("has a row for every RPC and stream of every service a key reaches", () => {
    const served = [JobService, WatchService, AdminService, AlertService, StatsService].flatMap((service) => service.methods.map((method) => method.name));
    expect(cells.map((cell) => cell.rpc).sort()).toEqual(expect.arrayContaining(served.sort()));
    expect(served.filter((name) => !cells.some((cell) => cell.rpc === name))).toEqual([]);
  });
});

describe.each([
  ["gRPC", () => grpcTransport],
  ["Connect", () => connectTransport],
])("the authorization matrix over %s", (_, transport) => {
  it("answers every RPC × caller × namespace with the code its role gives", async () => {
    const wrong: string[] = [];
    for (const caller of CALLERS) {
      const c = clients(transport(), secrets[caller]);
      for (const cell of cells) {
        for (const target of ["own", "other"] as const) {
          const got = await codeOf(cell[target](c));
          const want = expected(cell, caller, target);
          if (got !== want) wrong.push(`${cell.rpc} by ${caller} on ${target}: ${Code[got]}, expected ${Code[want]}`);
        }
      }
    }
    expect(wrong).toEqual([]);
  });
});

describe("what a key of one namespace sees", () => {
  it("lists and watches only its own namespace's jobs and runs", async () => {
    const reader = clients(grpcTransport, secrets.reader);
    const { jobs } = await reader.jobs.listJobs({ pageSize: 1000 });
    expect(jobs.length).toBeGreaterThan(0);
    expect(new Set(jobs.map((j) => j.namespace))).toEqual(new Set(["teamA"]));
    const { runs } = await reader.jobs.listRuns({ pageSize: 1000 });
    const namespaces = await server.pool.query<{ namespace: string }>("SELECT DISTINCT j.namespace FROM runs r JOIN jobs j ON j.id = r.job_id WHERE r.id = ANY($1::uuid[])", [runs.map((r) => r.id)]);
    expect(namespaces.rows.map((r) => r.namespace)).toEqual(["teamA"]);
    // A run triggered in teamB while teamA's reader watches is not streamed; teamA's is.
    const abort = new AbortController();
    const seen: string[] = [];
    const watching = (async () => {
      for await (const message of reader.watch.watchRuns({}, { signal: abort.signal })) {
        if (message.kind.case === "event") seen.push(message.kind.value.jobId);
        if (seen.includes(jobA)) return;
      }
    })().catch(() => undefined);
    await new Promise((resolve) => setTimeout(resolve, 300));
    await root.jobs.triggerJob({ id: jobB });
    await root.jobs.triggerJob({ id: jobA });
    await watching;
    abort.abort();
    expect(seen).not.toContain(jobB);
  });

  it("shows a key's secret once and stores only its hash", async () => {
    const { apiKey, secret } = await root.admin.createApiKey({ name: "once", namespace: "teamA", role: ApiKeyRole.READER });
    expect(secret).toMatch(/^chime_[A-Za-z0-9_-]{43}$/);
    const { apiKeys } = await root.admin.listApiKeys({ namespace: "teamA" });
    expect(apiKeys.find((k) => k.id === apiKey!.id)).toMatchObject({ name: "once", namespace: "teamA", role: ApiKeyRole.READER });
    expect(JSON.stringify(apiKeys, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))).not.toContain(secret);
    const { rows } = await server.pool.query("SELECT * FROM api_keys WHERE id = $1", [apiKey!.id]);
    expect(JSON.stringify(rows[0])).not.toContain(secret.slice(6));
  });

  it("refuses bad key requests naming the field", async () => {
    const error = await root.admin.createApiKey({ name: "", role: ApiKeyRole.UNSPECIFIED, expireTime: { seconds: 1n } }).catch((e: unknown) => ConnectError.from(e));
    expect(error).toBeInstanceOf(ConnectError);
    expect((error as ConnectError).code).toBe(Code.InvalidArgument);
    for (const field of ["name", "role", "expire_time"]) expect((error as ConnectError).rawMessage).toContain(`${field}:`);
  });
});

describe("alerts and stats for a key of one namespace", () => {
  it("lists only its namespace's channels, rules and deliveries, and creates in its namespace", async () => {
    const writer = clients(grpcTransport, secrets.writer);
    const reader = clients(grpcTransport, secrets.reader);
    // A delivery of each namespace's rule, as the alert engine writes them.
    for (const [ruleId, channelId] of [[ruleA, channelA], [ruleB, channelB]]) {
      await server.pool.query(
        "INSERT INTO alert_deliveries (rule_id, channel_id, state, event_count, payload, next_attempt_time) VALUES ($1, $2, 1, 1, '{}', now())",
        [ruleId, channelId],
      );
    }
    const created = (await writer.alerts.createAlertChannel({ channel: { ...CHANNEL, name: unique("own") } })).channel!;
    expect(created.namespace).toBe("teamA");
    const rule = (await writer.alerts.createAlertRule({ rule: { name: unique("own"), channelId: created.id, jobId: jobA, condition: AlertCondition.RUN_FAILED } })).rule!;
    expect(rule.namespace).toBe("teamA");

    const namespaces = <T extends { namespace: string }>(items: T[]) => new Set(items.map((i) => i.namespace));
    const channels = (await reader.alerts.listAlertChannels({})).channels;
    expect(channels.map((c) => c.id)).toContain(created.id);
    expect(namespaces(channels)).toEqual(new Set(["teamA"]));
    expect(namespaces((await reader.alerts.listAlertRules({})).rules)).toEqual(new Set(["teamA"]));
    const ruleIds = (await reader.alerts.listAlertDeliveries({})).deliveries.map((d) => d.ruleId);
    expect(ruleIds).toContain(ruleA);
    expect(ruleIds).not.toContain(ruleB);
    // The token sees every namespace's (the matrix made some in "default" too), or one's when it names it.
    expect([...namespaces((await root.alerts.listAlertChannels({})).channels)]).toEqual(expect.arrayContaining(["teamA", "teamB"]));
    expect([...namespaces((await root.alerts.listAlertRules({})).rules)]).toEqual(expect.arrayContaining(["teamA", "teamB"]));
    expect((await root.alerts.listAlertDeliveries({})).deliveries.map((d) => d.ruleId)).toEqual(expect.arrayContaining([ruleA, ruleB]));
    expect((await root.alerts.listAlertDeliveries({ namespace: "teamB" })).deliveries.map((d) => d.ruleId)).toEqual([ruleB]);
  });

  it("gets only its namespace's queue figures", async () => {
    // One queued run of teamA and two of teamB on one queue name, and the queue's consumer
    // (as a worker would create it), which counts all three.
    const queue = "shared-q";
    const runOn = async (namespace: string) => {
      const { job } = await root.jobs.createJob({ job: { ...JOB, queue, name: unique("qs"), namespace } });
      await root.jobs.triggerJob({ id: job!.id });
    };
    await runOn("teamA");
    await runOn("teamB");
    await runOn("teamB");
    const layout = natsLayout(server.config.natsPrefix);
    const nc = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.consumers.add(layout.runsStream, { durable_name: layout.queueConsumer(undefined, queue), filter_subject: layout.queueFilter(undefined, queue), ack_policy: AckPolicy.Explicit });
    } finally {
      await nc.close();
    }
    const all = await root.stats.getQueueStats({ queue });
    expect([all.active?.queued, all.runsWaiting]).toEqual([3n, 3n]);
    const teamB = await root.stats.getQueueStats({ queue, namespace: "teamB" });
    expect(teamB.active?.queued).toBe(2n);
    // A key of teamA: its run only, and none of the consumer's figures, which count teamB's too.
    const own = await clients(grpcTransport, secrets.reader).stats.getQueueStats({ queue });
    expect([own.active?.queued, own.runsWaiting, own.runsInFlight, own.pullRequests]).toEqual([1n, 0n, 0n, 0n]);

    // On a queue whose workers are teamA's own (a consumer of teamA's subject, as a Worker
    // with `namespace` makes it), the key gets that consumer's figures: teamA's runs alone.
    const ownQueue = "team-a-own-q";
    for (const namespace of ["teamA", "teamA", "teamB"]) {
      const { job } = await root.jobs.createJob({ job: { ...JOB, queue: ownQueue, name: unique("qo"), namespace } });
      await root.jobs.triggerJob({ id: job!.id });
    }
    const nc2 = await connect({ servers: TEST_NATS_URL });
    try {
      const jsm = await jetstreamManager(nc2);
      await jsm.consumers.add(layout.runsStream, { durable_name: layout.queueConsumer("teamA", ownQueue), filter_subject: layout.queueFilter("teamA", ownQueue), ack_policy: AckPolicy.Explicit });
    } finally {
      await nc2.close();
    }
    const ownConsumer = await clients(grpcTransport, secrets.reader).stats.getQueueStats({ queue: ownQueue });
    expect([ownConsumer.active?.queued, ownConsumer.runsWaiting]).toEqual([2n, 2n]);
    // A key of teamB, whose runs on that queue have no consumer of their own, gets none of teamA's.
    const readerB = (await root.admin.createApiKey({ name: unique("reader-b"), namespace: "teamB", role: ApiKeyRole.READER })).secret;
    const other = await clients(grpcTransport, readerB).stats.getQueueStats({ queue: ownQueue });
    expect([other.active?.queued, other.runsWaiting]).toEqual([1n, 0n]);
  });
});

describe("the audit log", () => {
  it("has an entry for every change, with the key, the target and the address, readable by admins of the namespace", async () => {
    const writer = clients(grpcTransport, secrets.writer);
    const connectWriter = clients(connectTransport, secrets.writer);
    const created = (await writer.jobs.createJob({ job: { ...JOB, name: "audited" } })).job!;
    const batch = await connectWriter.jobs.batchCreateJobs({ jobs: [{ job: { ...JOB, name: "audited-batch" } }] });
    const batched = batch.results[0].result.value as { id: string };
    await writer.jobs.updateJob({ job: { id: created.id, queue: "q3" }, updateMask: { paths: ["queue"] } });
    await writer.jobs.pauseJob({ id: created.id });
    await writer.jobs.resumeJob({ id: created.id });
    const run = (await writer.jobs.triggerJob({ id: created.id })).run!;
    await writer.jobs.cancelRun({ id: run.id });
    await writer.jobs.deleteJob({ id: batched.id });
    const admin = clients(grpcTransport, secrets.admin);
    const key = (await admin.admin.createApiKey({ name: "audited key", role: ApiKeyRole.READER })).apiKey!;
    await admin.admin.revokeApiKey({ id: key.id });
    const { channel } = await writer.alerts.createAlertChannel({ channel: { name: "audited-hook", kind: AlertChannelKind.WEBHOOK, url: "https://hooks.example.com/a" } });
    const { rule } = await writer.alerts.createAlertRule({ rule: { name: "audited-rule", channelId: channel!.id, condition: AlertCondition.RUN_FAILED } });
    await writer.alerts.deleteAlertRule({ id: rule!.id });
    await writer.alerts.deleteAlertChannel({ id: channel!.id });

    const { entries } = await admin.admin.listAuditEntries({ pageSize: 1000 });
    const targets = [`job/${created.id}`, `job/${batched.id}`, `run/${run.id}`, `api_key/${key.id}`, `alert_channel/${channel!.id}`, `alert_rule/${rule!.id}`];
    const since = entries.filter((e) => targets.includes(e.target));
    expect(since.map((e) => `${e.action} ${e.target}`).reverse()).toEqual([
      `CreateJob job/${created.id}`,
      `BatchCreateJobs job/${batched.id}`,
      `UpdateJob job/${created.id}`,
      `PauseJob job/${created.id}`,
      `ResumeJob job/${created.id}`,
      `TriggerJob run/${run.id}`,
      `CancelRun run/${run.id}`,
      `DeleteJob job/${batched.id}`,
      `CreateApiKey api_key/${key.id}`,
      `RevokeApiKey api_key/${key.id}`,
      `CreateAlertChannel alert_channel/${channel!.id}`,
      `CreateAlertRule alert_rule/${rule!.id}`,
      `DeleteAlertRule alert_rule/${rule!.id}`,
      `DeleteAlertChannel alert_channel/${channel!.id}`,
    ]);
    for (const entry of since) {
      expect(entry.namespace).toBe("teamA");
      expect(entry.keyName).toBe(entry.action.endsWith("ApiKey") ? "admin" : "writer");
      expect(entry.keyId).toMatch(/^[0-9a-f-]{36}$/);
      expect(entry.address).toMatch(/^(::ffff:)?127\.0\.0\.1:\d+$/);
      expect(entry.time).toBeDefined();
    }
    // teamA's admin sees no other namespace's entries; the token sees them all.
    expect(new Set(entries.map((e) => e.namespace))).toEqual(new Set(["teamA"]));
    const all = await root.admin.listAuditEntries({ pageSize: 1000 });
    expect(all.entries.some((e) => e.namespace === "teamB")).toBe(true);
    expect(all.entries.filter((e) => e.namespace === "teamB").every((e) => e.keyName === "CHIME_API_TOKEN" && e.keyId === "")).toBe(true);
  });

  it("pages newest first, and cannot be changed", async () => {
    const first = await root.admin.listAuditEntries({ pageSize: 2 });
    expect(first.entries).toHaveLength(2);
    const second = await root.admin.listAuditEntries({ pageSize: 2, pageToken: first.nextPageToken });
    expect(second.entries[0].id).toBeLessThan(first.entries[1].id);
    await expect(server.pool.query("UPDATE audit_log SET action = 'nothing'")).rejects.toThrow(/append-only/);
    await expect(server.pool.query("DELETE FROM audit_log")).rejects.toThrow(/append-only/);
  });
});
