import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig } from "./config.js";

function problemsOf(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig", () => {
  it("takes whole numbers in plain decimal only", () => {
    for (const value of [" ", "0x1F90", "1e3", "80.5", "-1"]) {
      const problems = problemsOf({ CHIME_PORT: value });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^CHIME_PORT=.*expected a whole number/);
    }
    expect(loadConfig({ CHIME_PORT: "9090" }).grpcPort).toBe(9090);
  });

  it("has defaults that work on a developer machine", () => {
    const config = loadConfig({});
    expect(config).toMatchObject({
      databaseUrl: "postgres://postgres@127.0.0.1:5432/chime",
      natsUrl: "nats://127.0.0.1:4222",
      natsPrefix: "chime",
      grpcPort: 8080,
      httpPort: 8081,
      host: "0.0.0.0",
      maxPayloadBytes: 256 * 1024,
      maxMessageBytes: 4 * 1024 * 1024,
      requestTimeoutMs: 30_000,
      healthIntervalMs: 2_000,
      shutdownGraceMs: 10_000,
      logLevel: "info",
    });
    expect([...config.roles].sort()).toEqual(["api", "executor", "ingest", "scheduler"]);
    expect(config.serverId).toMatch(/-\d+$/);
    expect(config.electionIntervalMs).toBeLessThan(config.leaderLeaseMs);
  });

  it("treats an empty variable as unset", () => {
    expect(loadConfig({ CHIME_PORT: "", CHIME_ROLES: "", DATABASE_URL: "" })).toMatchObject({ grpcPort: 8080, databaseUrl: "postgres://postgres@127.0.0.1:5432/chime" });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      DATABASE_URL: "postgresql://u:p@db:6543/x",
      NATS_URL: "tls://nats:4443",
      CHIME_NATS_PREFIX: "tenant_1",
      CHIME_PORT: "0",
      CHIME_HTTP_PORT: "0",
      CHIME_HOST: "127.0.0.1",
      CHIME_ROLES: " api , scheduler ",
      CHIME_MAX_PAYLOAD_BYTES: "1024",
      CHIME_MAX_MESSAGE_BYTES: "2048",
      CHIME_REQUEST_TIMEOUT_MS: "100",
      CHIME_HEALTH_INTERVAL_MS: "50",
      CHIME_SHUTDOWN_GRACE_MS: "0",
      CHIME_LOG_LEVEL: "silent",
      CHIME_SERVER_ID: "node-a",
    });
    expect(config).toMatchObject({
      databaseUrl: "postgresql://u:p@db:6543/x",
      natsUrl: "tls://nats:4443",
      natsPrefix: "tenant_1",
      grpcPort: 0,
      httpPort: 0,
      host: "127.0.0.1",
      maxPayloadBytes: 1024,
      maxMessageBytes: 2048,
      requestTimeoutMs: 100,
      healthIntervalMs: 50,
      shutdownGraceMs: 0,
      logLevel: "silent",
      serverId: "node-a",
    });
    expect([...config.roles].sort()).toEqual(["api", "scheduler"]);
  });

  it("lists every problem in one ConfigError, each naming its variable", () => {
    const env = {
      DATABASE_URL: "mysql://db/x",
      NATS_URL: "not a url",
      CHIME_NATS_PREFIX: "bad prefix!",
      CHIME_PORT: "abc",
      CHIME_HTTP_PORT: "70000",
      CHIME_ROLES: "api,foo,bar",
      CHIME_MAX_PAYLOAD_BYTES: "0",
      CHIME_MAX_MESSAGE_BYTES: "10",
      CHIME_REQUEST_TIMEOUT_MS: "1.5",
      CHIME_HEALTH_INTERVAL_MS: "-1",
      CHIME_SHUTDOWN_GRACE_MS: "forever",
      CHIME_LOG_LEVEL: "loud",
    };
    let error: ConfigError | undefined;
    try {
      loadConfig(env);
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = error!.problems;
    // One line per bad value; the two unknown roles are one line each.
    expect(problems).toHaveLength(Object.keys(env).length + 1);
    for (const key of Object.keys(env)) expect(problems.some((p) => p.startsWith(key)), key).toBe(true);
    expect(problems).toContain('CHIME_ROLES: unknown role "foo" (known: api, scheduler, ingest, executor)');
    expect(problems).toContain('CHIME_ROLES: unknown role "bar" (known: api, scheduler, ingest, executor)');
    expect(problems).toContain('CHIME_PORT="abc": expected a whole number from 0 to 65535');
    expect(problems).toContain('NATS_URL="not a url": not a URL');
    expect(problems).toContain('DATABASE_URL="mysql://db/x": expected a postgres: or postgresql: URL');
    // The message shows them all, one a line.
    for (const problem of problems) expect(error!.message).toContain(`  - ${problem}`);
  });

  it("checks values against each other", () => {
    expect(problemsOf({ CHIME_PORT: "9000", CHIME_HTTP_PORT: "9000" })).toEqual([
      "CHIME_PORT and CHIME_HTTP_PORT are both 9000: they must differ",
    ]);
    // Both 0 means two free ports, which differ.
    expect(loadConfig({ CHIME_PORT: "0", CHIME_HTTP_PORT: "0" }).grpcPort).toBe(0);
    expect(problemsOf({ CHIME_ELECTION_INTERVAL_MS: "3000", CHIME_LEADER_LEASE_MS: "3000" })).toEqual([
      expect.stringMatching(/^CHIME_ELECTION_INTERVAL_MS \(3000\) must be less than CHIME_LEADER_LEASE_MS \(3000\)/),
    ]);
    // A run outlives its events (its events are pruned first), unless runs are kept for good.
    expect(problemsOf({ CHIME_RUN_RETENTION_MS: "60000", CHIME_EVENT_RETENTION_MS: "120000" })).toEqual([
      expect.stringMatching(/^CHIME_RUN_RETENTION_MS \(60000\) must be 0 \(keep runs\) or at least CHIME_EVENT_RETENTION_MS \(120000\)/),
    ]);
    expect(loadConfig({ CHIME_RUN_RETENTION_MS: "0", CHIME_EVENT_RETENTION_MS: "120000" }).runRetentionMs).toBe(0);
  });

  it("takes a list of NATS servers, a direct Postgres URL for the session-bound connections, a pool size and a replica count", () => {
    const config = loadConfig({
      NATS_URL: "nats://a:4222, nats://b:4222,tls://c:4222",
      DATABASE_URL: "postgres://chime@pgbouncer:6432/chime",
      CHIME_DATABASE_DIRECT_URL: "postgres://chime@db:5432/chime",
      CHIME_DATABASE_POOL_SIZE: "40",
      CHIME_NATS_REPLICAS: "3",
    });
    expect(config).toMatchObject({
      natsUrl: "nats://a:4222,nats://b:4222,tls://c:4222",
      databaseDirectUrl: "postgres://chime@db:5432/chime",
      databasePoolSize: 40,
      natsReplicas: 3,
    });
    // Without a direct URL, the session-bound connections use DATABASE_URL.
    expect(loadConfig({ DATABASE_URL: "postgres://x@h/d" }).databaseDirectUrl).toBe("postgres://x@h/d");
    expect(problemsOf({ NATS_URL: "nats://a:4222,http://b" })).toEqual(['NATS_URL="http://b": expected a nats: or tls: URL']);
    expect(problemsOf({ NATS_URL: " , " })).toEqual(["NATS_URL: at least one URL is required"]);
    expect(problemsOf({ CHIME_NATS_REPLICAS: "7" })[0]).toMatch(/^CHIME_NATS_REPLICAS=/);
    expect(problemsOf({ CHIME_DATABASE_POOL_SIZE: "0" })[0]).toMatch(/^CHIME_DATABASE_POOL_SIZE=/);
    expect(problemsOf({ CHIME_DATABASE_DIRECT_URL: "mysql://x" })[0]).toMatch(/^CHIME_DATABASE_DIRECT_URL=/);
  });

  it.each([
    [{ CHIME_TLS_CERT_FILE: "package.json" }, ["CHIME_TLS_KEY_FILE is required when CHIME_TLS_CERT_FILE is set"]],
    [{ CHIME_TLS_KEY_FILE: "package.json" }, ["CHIME_TLS_CERT_FILE is required when CHIME_TLS_KEY_FILE is set"]],
    [{ CHIME_TLS_CLIENT_CA_FILE: "package.json" }, [expect.stringMatching(/^CHIME_TLS_CLIENT_CA_FILE needs CHIME_TLS_CERT_FILE and CHIME_TLS_KEY_FILE/)]],
    [
      { CHIME_TLS_CERT_FILE: "/no/cert.pem", CHIME_TLS_KEY_FILE: "package.json", CHIME_TLS_CLIENT_CA_FILE: "/no/ca.pem" },
      ['CHIME_TLS_CERT_FILE="/no/cert.pem": no such file', 'CHIME_TLS_CLIENT_CA_FILE="/no/ca.pem": no such file'],
    ],
  ])("checks the TLS files %j", (env, expected) => {
    expect(problemsOf(env)).toEqual(expected);
  });

  it.each([
    [{ CHIME_METRICS_ACCESS: "key" }, ["CHIME_METRICS_ACCESS=key needs CHIME_API_TOKEN (API keys are off without it)"]],
    [{ CHIME_REFLECTION_ACCESS: "closed", CHIME_API_TOKEN: "12345678" }, ['CHIME_REFLECTION_ACCESS="closed": expected open or key']],
    [{ CHIME_CORS_ORIGINS: "app.example.com" }, [expect.stringMatching(/^CHIME_CORS_ORIGINS: "app.example.com" is not an origin/)]],
  ])("checks access and CORS settings %j", (env, expected) => {
    expect(problemsOf(env)).toEqual(expected);
  });

  it("reads the TLS files", () => {
    expect(loadConfig({}).tls).toBeUndefined();
    expect(loadConfig({ CHIME_TLS_CERT_FILE: "package.json", CHIME_TLS_KEY_FILE: "package.json" }).tls).toEqual({
      certFile: "package.json",
      keyFile: "package.json",
      clientCaFile: undefined,
    });
  });

  it("requires at least one role", () => {
    expect(problemsOf({ CHIME_ROLES: " , " })).toEqual(["CHIME_ROLES: at least one role is required"]);
  });

  it("applies overrides after validation", () => {
    const config = loadConfig({ CHIME_PORT: "9000" }, { grpcPort: 0, logLevel: "silent" });
    expect(config.grpcPort).toBe(0);
    expect(config.logLevel).toBe("silent");
  });
});
