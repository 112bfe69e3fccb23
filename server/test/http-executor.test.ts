import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Code, ConnectError } from "@connectrpc/connect";
import { createChimeClient, RunLogLevel, RunState, type ChimeClient, type JobSpec } from "@chime/sdk";
import { startTestServer, type TestServer } from "./helpers/test-server.js";
import { startHttpTarget, type HttpTarget } from "./helpers/worker-http-target.js";
import { onlyRunOf, terminalRun } from "./helpers/worker-runs.js";

let server: TestServer;
let chime: ChimeClient;
let target: HttpTarget;
let base: string;
let n = 0;

beforeAll(async () => {
  target = await startHttpTarget();
  // Only the name is allowlisted: "localhost" may reach loopback, the literal 127.0.0.1 may not.
  server = await startTestServer({ CHIME_HTTP_ALLOWLIST: "localhost" });
  chime = createChimeClient({ baseUrl: server.grpcUrl });
  base = `http://localhost:${target.port}`;
});
afterAll(async () => {
  await server?.close();
  await target?.close();
});

async function runHttp(http: JobSpec["http"], extra: Partial<JobSpec> = {}) {
  const job = await chime.createJob({ name: `http-${++n}`, queue: "http", schedule: "immediate", http, ...extra });
  return terminalRun(chime, (await onlyRunOf(chime, job.id)).id);
}
const requestsTo = (path: string, runId: string) =>
  target.requests.filter((r) => r.path === path && r.headers["idempotency-key"] === runId);

describe("built-in http job type", () => {
  it("sends the request with Idempotency-Key and keeps status and body as output", async () => {
    const run = await runHttp({ method: "PUT", url: `${base}/ok`, headers: { "X-Team": "billing", "Content-Type": "application/json" }, body: '{"a":1}' });
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.output).toMatchObject({ status: 200, redirects: 0, contentType: "application/json", body: '{"ok":true,"method":"PUT"}', bodyTruncated: false });
    const [received] = requestsTo("/ok", run.id);
    expect(received.method).toBe("PUT");
    expect(received.headers["x-team"]).toBe("billing");
    expect(received.headers["idempotency-key"]).toBe(run.id);
    expect(received.body).toBe('{"a":1}');
  });

  it("keeps a bounded excerpt of a large body", async () => {
    const run = await runHttp({ method: "GET", url: `${base}/big` });
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect((run.output!.body as string).length).toBe(4096);
    expect(run.output!.bodyTruncated).toBe(true);
  });

  it("fails on a non-2xx status and retries it with the same Idempotency-Key", async () => {
    const run = await runHttp({ url: `${base}/flaky` }, { retry: { maxAttempts: 3, initialBackoff: "100ms", jitter: 0 } });
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.attempt).toBe(2);
    expect(run.attempts[0].error).toMatch(/^HTTP 503 from http:\/\/localhost:\d+\/flaky: try again/);
    expect(requestsTo("/flaky", run.id)).toHaveLength(2);

    const failed = await runHttp({ url: `${base}/status/404` }, { retry: { maxAttempts: 2, initialBackoff: "100ms", jitter: 0 } });
    expect(failed.state).toBe(RunState.FAILED);
    expect(failed.attempt).toBe(2);
    expect(failed.error).toMatch(/^HTTP 404/);
  });

  it("aborts the request at the attempt timeout", async () => {
    const started = Date.now();
    const run = await runHttp({ method: "GET", url: `${base}/slow` }, { attemptTimeout: "500ms", retry: { maxAttempts: 2, initialBackoff: "100ms", jitter: 0 } });
    expect(run.state).toBe(RunState.TIMED_OUT);
    expect(run.attempts.map((a) => a.state)).toEqual([RunState.TIMED_OUT, RunState.TIMED_OUT]);
    expect(requestsTo("/slow", run.id)).toHaveLength(2);
    expect(Date.now() - started).toBeLessThan(2900); // two 500 ms attempts, far less than one full 3 s answer
  });

  it("refuses destinations outside the allowlist, and a redirect to one, without retrying", async () => {
    const port = target.port;
    const corpus = [
      `http://127.0.0.1:${port}/ok`,
      `http://[::1]:${port}/ok`,
      `http://[::ffff:127.0.0.1]:${port}/ok`,
      `http://0x7f000001:${port}/ok`,
      `http://2130706433:${port}/ok`,
      "http://169.254.169.254/latest/meta-data/",
      "http://10.0.0.1/",
      "http://100.64.0.1/",
      // An allowlisted server redirecting to a loopback literal.
      `${base}/redirect?to=${encodeURIComponent(`http://127.0.0.1:${port}/ok`)}`,
    ];
    const before = target.requests.filter((r) => r.path === "/ok").length;
    const runs = await Promise.all(corpus.map((url) => runHttp({ method: "GET", url }, { retry: { maxAttempts: 3, initialBackoff: "100ms" } })));
    runs.forEach((run, i) => {
      expect(run.state, corpus[i]).toBe(RunState.FAILED);
      expect(run.attempt, corpus[i]).toBe(1);
      expect(run.error, corpus[i]).toMatch(/^refused /);
    });
    expect(target.requests.filter((r) => r.path === "/ok").length).toBe(before);
    expect(target.requests.filter((r) => r.path === "/redirect")).toHaveLength(1);
  });

  it("follows a redirect that stays allowed", async () => {
    const run = await runHttp({ method: "GET", url: `${base}/redirect?to=/ok` });
    expect(run.state).toBe(RunState.SUCCEEDED);
    expect(run.output).toMatchObject({ status: 200, redirects: 1, url: `${base}/ok` });
  });
});

describe("the http executor's run log", () => {
  it("records the status, the headers the job keeps and a bounded body excerpt", async () => {
    const run = await runHttp({ method: "GET", url: `${base}/ok`, keepHeaders: ["Content-Type", "X-Not-Sent"] });
    expect(run.state).toBe(RunState.SUCCEEDED);
    const { lines } = await chime.jobService.getRunLogs({ runId: run.id });
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ attempt: 1, seq: 1, level: RunLogLevel.INFO, message: `HTTP 200 from ${base}/ok` });
    expect(lines[0].fields).toEqual({ status: 200, headers: { "content-type": "application/json" }, body: '{"ok":true,"method":"GET"}', bodyTruncated: false });

    const big = await runHttp({ method: "GET", url: `${base}/big` });
    const [bigLine] = (await chime.jobService.getRunLogs({ runId: big.id })).lines;
    expect((bigLine.fields!.body as string).length).toBe(4096);
    expect(bigLine.fields).toMatchObject({ status: 200, headers: {}, bodyTruncated: true });
  });

  it("records a failed response at error level", async () => {
    const run = await runHttp({ method: "GET", url: `${base}/status/500` }, { retry: { maxAttempts: 1 } });
    expect(run.state).toBe(RunState.FAILED);
    const { lines } = await chime.jobService.getRunLogs({ runId: run.id });
    expect(lines.map((l) => [l.level, l.fields?.status])).toEqual([[RunLogLevel.ERROR, 500]]);
  });

  it("refuses a keep_headers entry that is not a header name, naming it", async () => {
    const error = ConnectError.from(
      await chime.createJob({ name: "bad-keep", queue: "http", schedule: "immediate", http: { url: `${base}/ok`, keepHeaders: ["ok", "no spaces"] } }).catch((e: unknown) => e),
    );
    expect(error.code).toBe(Code.InvalidArgument);
    expect(error.rawMessage).toContain("job.http.keep_headers[1]");
  });
});
