import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../../server/test/helpers/test-server.js";
import { createTestCa, type IssuedCert, type TestCa } from "../../server/test/helpers/tls-certs.js";
import { runChime, type CliResult } from "./run-cli.js";

// `chime key` and `chime audit` against a real server with mTLS and API keys, reached with
// the CLI's TLS flags (and their CHIME_TLS_* environment defaults).
const ROOT = "cli-admin-root-token";

let ca: TestCa;
let client: IssuedCert;
let server: TestServer;
beforeAll(async () => {
  ca = createTestCa();
  const serverCert = ca.issue("server", "server");
  client = ca.issue("cli", "client");
  server = await startTestServer({
    CHIME_ROLES: "api",
    CHIME_API_TOKEN: ROOT,
    CHIME_TLS_CERT_FILE: serverCert.certFile,
    CHIME_TLS_KEY_FILE: serverCert.keyFile,
    CHIME_TLS_CLIENT_CA_FILE: ca.caFile,
  });
});
afterAll(async () => {
  await server?.close();
  ca?.remove();
});

/** The CLI with TLS flags given as flags, to the server's https:// URL shown as http:// (--tls makes it https). */
const tlsFlags = () => ["--tls", "--ca", ca.caFile, "--cert", client.certFile, "--key", client.keyFile];
const http = () => server.grpcUrl.replace("https://", "http://");
const chime = (args: string[], env: Record<string, string> = {}): Promise<CliResult> => runChime(http(), [...tlsFlags(), ...args], env);

async function json(args: string[], token = ROOT): Promise<unknown> {
  const result = await chime([...args, "--token", token, "--output", "json"]);
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

describe("chime over TLS", () => {
  it("connects with --ca, --cert and --key, or their CHIME_TLS_* environment defaults", async () => {
    expect((await chime(["status", "--token", ROOT])).code).toBe(0);
    const fromEnv = await runChime(server.grpcUrl, ["status", "--output", "json"], {
      CHIME_TOKEN: ROOT,
      CHIME_TLS_CA_FILE: ca.caFile,
      CHIME_TLS_CLIENT_CERT_FILE: client.certFile,
      CHIME_TLS_CLIENT_KEY_FILE: client.keyFile,
    });
    expect(fromEnv).toMatchObject({ code: 0, stderr: "" });
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ serving: true });
  });

  it("exits 6 without a client certificate, or for a server name the certificate lacks", async () => {
    const noCert = await runChime(server.grpcUrl, ["status", "--ca", ca.caFile, "--token", ROOT, "--timeout", "5000"]);
    expect(noCert.code).toBe(6);
    expect(noCert.stderr).toMatch(/^chime: TLS: ERR_SSL_\S*CERTIFICATE_REQUIRED: /);
    // The certificate names 127.0.0.1 and localhost: --server-name localhost passes, another name fails.
    expect((await chime(["status", "--token", ROOT, "--server-name", "localhost"])).code).toBe(0);
    const wrongName = await chime(["status", "--token", ROOT, "--server-name", "elsewhere.example", "--timeout", "5000"]);
    expect(wrongName.code).toBe(6);
    expect(wrongName.stderr).toMatch(/^chime: TLS: ERR_TLS_CERT_ALTNAME_INVALID: .*elsewhere\.example/);
  });

  it("names the TLS flag it cannot use", async () => {
    expect(await chime(["status", "--ca", "/nonexistent/ca.pem"])).toMatchObject({ code: 3, stderr: 'chime: --ca: cannot read "/nonexistent/ca.pem" (ENOENT)\n' });
    expect(await runChime(server.grpcUrl, ["status", "--cert", client.certFile])).toMatchObject({ code: 3, stderr: "chime: --key: required with --cert\n" });
  });
});

describe("chime key and chime audit", () => {
  it("create shows the secret once; the key works, list shows it without one, revoke ends it", async () => {
    const created = (await json(["key", "create", "--namespace", "teamA", "--role", "writer", "--name", "billing", "--expires", "30d"])) as Record<string, string>;
    expect(created).toMatchObject({ name: "billing", namespace: "teamA", role: "API_KEY_ROLE_WRITER" });
    expect(created).not.toHaveProperty("revokeTime");
    expect(created.secret).toEqual(expect.any(String));
    const days = (Date.parse(created.expireTime!) - Date.parse(created.createTime!)) / 86_400_000;
    expect(Math.round(days)).toBe(30);

    // The new key is a writer of teamA.
    const job = (await json(["job", "create", "--name", "by-key", "--queue", "q", "--every", "1h"], created.secret)) as Record<string, string>;
    expect(job.namespace).toBe("teamA");

    const listed = (await json(["key", "list", "--namespace", "teamA"])) as Array<Record<string, unknown>>;
    expect(listed.map((k) => k.id)).toEqual([created.id]);
    expect(listed[0]).not.toHaveProperty("secret");
    const table = await chime(["key", "list", "--token", ROOT]);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+NAMESPACE\s+ROLE\s+CREATED\s+EXPIRES\s+REVOKED$/);
    expect(table.stdout).toMatch(new RegExp(`^${created.id}\\s+billing\\s+teamA\\s+WRITER\\s`, "m"));

    const shownOnce = await chime(["key", "create", "--namespace", "teamA", "--role", "reader", "--token", ROOT]);
    expect(shownOnce.code).toBe(0);
    expect(shownOnce.stdout).toMatch(/^role:\s+READER$/m);
    expect(shownOnce.stdout).toMatch(/^secret:\s+\S+\s+\(shown this once/m);

    expect(await json(["key", "revoke", created.id!])).toMatchObject({ id: created.id, revokeTime: expect.any(String) });
    const refused = await chime(["job", "list", "--token", created.secret!]);
    expect(refused.code).toBe(6);
    expect(refused.stderr).toMatch(/^chime: Unauthenticated: /);
    expect(((await json(["key", "list", "--namespace", "teamA"])) as unknown[]).length).toBe(1);
    expect(((await json(["key", "list", "--namespace", "teamA", "--all"])) as unknown[]).length).toBe(2);

    const audit = (await json(["audit", "list", "--namespace", "teamA", "--limit", "2"])) as Array<Record<string, string>>;
    expect(audit.map((e) => e.action)).toEqual(["RevokeApiKey", "CreateApiKey"]);
    expect(audit[0]!.target).toBe(`api_key/${created.id}`);
    const auditTable = await chime(["audit", "list", "--token", ROOT, "--limit", "1"]);
    expect(auditTable.stdout.split("\n")[0]).toMatch(/^ID\s+TIME\s+ACTION\s+TARGET\s+NAMESPACE\s+KEY\s+ADDRESS$/);
    expect(auditTable.stdout.split("\n")[1]).toContain("RevokeApiKey");
  });

  it("exits by error class, naming the field", async () => {
    const args = ["--token", ROOT];
    expect(await chime(["key", "create", "--role", "owner", ...args])).toMatchObject({ code: 3, stderr: 'chime: --role: "owner" is not one of reader, writer, admin\n' });
    expect(await chime(["key", "create", "--role", "reader", "--expires", "soon", ...args])).toMatchObject({
      code: 3,
      stderr: 'chime: --expires: "soon" is neither an ISO 8601 time nor a duration such as 30d or 12h\n',
    });
    const past = await chime(["key", "create", "--role", "reader", "--namespace", "teamA", "--expires", "2020-01-01T00:00:00Z", ...args]);
    expect(past.code).toBe(3);
    expect(past.stderr).toMatch(/^chime: InvalidArgument: expire_time/);
    expect((await chime(["key", "create", ...args])).code).toBe(2);
    expect((await chime(["key", "revoke", "00000000-0000-0000-0000-000000000000", ...args])).code).toBe(4);

    // A writer key may not manage keys.
    const writer = (await json(["key", "create", "--namespace", "teamB", "--role", "writer"])) as Record<string, string>;
    const denied = await chime(["key", "list", "--token", writer.secret!]);
    expect(denied.code).toBe(6);
    expect(denied.stderr).toMatch(/^chime: PermissionDenied: /);
  });
});

/** A namespace's limits as the CLI prints them in JSON: every field, zeros included. */
const limits = (namespace: string, set: Record<string, unknown> = {}) => ({ namespace, callsPerSecond: 0, callBurst: 0, maxJobs: "0", runsPerSecond: 0, runBurst: 0, ...set });

describe("chime namespace", () => {
  it("shows a namespace's limits and changes the ones given, keeping the others", async () => {
    expect(await json(["namespace", "limits", "teamL"])).toEqual(limits("teamL"));
    expect(await json(["namespace", "set-limits", "teamL", "--max-jobs", "5", "--runs-per-second", "2.5", "--run-retention", "14d"])).toEqual(
      limits("teamL", { maxJobs: "5", runsPerSecond: 2.5, runRetention: "1209600s" }),
    );
    // Only --call-burst given: the quota, fire rate and retention stay.
    expect(await json(["namespace", "set-limits", "teamL", "--call-burst", "10", "--calls-per-second", "0.5"])).toEqual(
      limits("teamL", { callsPerSecond: 0.5, callBurst: 10, maxJobs: "5", runsPerSecond: 2.5, runRetention: "1209600s" }),
    );
    // 0 removes a limit.
    expect(await json(["namespace", "set-limits", "teamL", "--max-jobs", "0", "--run-retention", "0"])).toEqual(limits("teamL", { callsPerSecond: 0.5, callBurst: 10, runsPerSecond: 2.5 }));
    const table = await chime(["namespace", "limits", "teamL", "--token", ROOT]);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/^max jobs:\s+no limit$/m);
    expect(table.stdout).toMatch(/^runs per second:\s+2\.5$/m);
    expect(table.stdout).toMatch(/^run retention:\s+CHIME_RUN_RETENTION_MS \(server default\)$/m);
  });

  it("refuses a bad value naming its flag, and changes nothing", async () => {
    const args = ["--token", ROOT];
    await json(["namespace", "set-limits", "teamM", "--max-jobs", "7"]);
    expect(await chime(["namespace", "set-limits", "teamM", "--max-jobs", "-1", ...args])).toMatchObject({
      code: 3,
      stderr: 'chime: --max-jobs: "-1" is not a whole number of 0 or more (0: no limit)\n',
    });
    expect(await chime(["namespace", "set-limits", "teamM", "--runs-per-second", "2", "--run-retention", "soon", ...args])).toMatchObject({
      code: 3,
      stderr: 'chime: --run-retention: "soon" is not a duration (e.g. 14d, 36h; 0: the server\'s default)\n',
    });
    expect(await chime(["namespace", "set-limits", "teamM", ...args])).toMatchObject({ code: 3, stderr: expect.stringMatching(/^chime: give at least one of --calls-per-second/) });
    // Below the server's event retention: the server names the field.
    const short = await chime(["namespace", "set-limits", "teamM", "--run-retention", "1m", ...args]);
    expect(short.code).toBe(3);
    expect(short.stderr).toMatch(/^chime: InvalidArgument: limits\.run_retention/);
    expect(await json(["namespace", "limits", "teamM"])).toEqual(limits("teamM", { maxJobs: "7" }));
    // Limits are an all-namespaces admin's: a namespace's own admin may not set them.
    const admin = (await json(["key", "create", "--namespace", "teamM", "--role", "admin"])) as Record<string, string>;
    const denied = await chime(["namespace", "set-limits", "teamM", "--max-jobs", "100", "--token", admin.secret!]);
    expect(denied.code).toBe(6);
    expect(denied.stderr).toMatch(/^chime: PermissionDenied: /);
  });
});
