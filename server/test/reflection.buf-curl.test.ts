import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobService } from "@chime/sdk/gen/job_service_pb";
import { startTestServer, type TestServer } from "./helpers/test-server.js";

/**
 * `buf curl` with server reflection and no proto files: what an operator does with a
 * running server. Run from an empty directory so no buf module or .proto is in reach.
 */

const BUF = fileURLToPath(new URL("../../node_modules/.bin/buf", import.meta.url));

let server: TestServer;
let emptyDir: string;

beforeAll(async () => {
  emptyDir = await mkdtemp(join(tmpdir(), "chime-buf-curl-"));
  server = await startTestServer({ CHIME_ROLES: "api" });
});
afterAll(async () => {
  await server?.close();
  if (emptyDir) await rm(emptyDir, { recursive: true, force: true });
});

interface BufResult {
  code: number;
  stdout: string;
  stderr: string;
}

function bufCurl(args: string[]): Promise<BufResult> {
  return new Promise((resolve, reject) => {
    execFile(
      BUF,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--timeout", "20s", ...args],
      { cwd: emptyDir, timeout: 30_000, env: { ...process.env, BUF_CACHE_DIR: join(emptyDir, ".cache"), NO_COLOR: "1" } },
      (error, stdout, stderr) => {
        if (error && typeof error.code !== "number") return reject(error);
        resolve({ code: typeof error?.code === "number" ? error.code : 0, stdout, stderr });
      },
    );
  });
}

const url = (path = "") => `http://127.0.0.1:${server.grpcPort}${path}`;

describe("buf curl through server reflection", () => {
  it("lists the services and every JobService method", async () => {
    const services = await bufCurl(["--list-services", url()]);
    expect(services.code, services.stderr).toBe(0);
    const serviceNames = services.stdout.trim().split("\n");
    expect(serviceNames).toContain("chime.v1.JobService");
    expect(serviceNames).toContain("grpc.health.v1.Health");

    const methods = await bufCurl(["--list-methods", url()]);
    expect(methods.code, methods.stderr).toBe(0);
    const listed = methods.stdout.trim().split("\n");
    for (const method of JobService.methods) expect(listed).toContain(`chime.v1.JobService/${method.name}`);
  });

  it("creates a job and lists it, with JSON in and out", async () => {
    const create = await bufCurl([
      url("/chime.v1.JobService/CreateJob"),
      "-d",
      JSON.stringify({
        job: {
          name: "buf-curl-job",
          queue: "reports",
          payload: { format: "pdf", pages: 3 },
          labels: { via: "buf" },
          schedule: { cron: { expression: "0 0 6 * * MON", timeZone: "Asia/Tokyo" } },
          attemptTimeout: "45s",
        },
      }),
    ]);
    expect(create.code, create.stderr).toBe(0);
    const { job } = JSON.parse(create.stdout);
    expect(job.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(job.state).toBe("JOB_STATE_ACTIVE");
    expect(job.payload).toEqual({ format: "pdf", pages: 3 });
    expect(job.attemptTimeout).toBe("45s");
    expect(job.schedule.cron).toEqual({ expression: "0 0 6 * * MON", timeZone: "Asia/Tokyo", dstGap: "DST_GAP_POLICY_SHIFT", dstRepeat: "DST_REPEAT_POLICY_FIRST" });
    // Mondays 06:00 in Tokyo are Sundays 21:00 UTC.
    expect(new Date(job.nextRunTime).getUTCDay()).toBe(0);
    expect(new Date(job.nextRunTime).getUTCHours()).toBe(21);

    const list = await bufCurl([url("/chime.v1.JobService/ListJobs"), "-d", "{}"]);
    expect(list.code, list.stderr).toBe(0);
    const { jobs } = JSON.parse(list.stdout);
    expect(jobs.map((j: { id: string }) => j.id)).toContain(job.id);

    // The v1alpha reflection protocol works too (older grpcurl versions use it).
    const get = await bufCurl(["--reflect-protocol", "grpc-v1alpha", url("/chime.v1.JobService/GetJob"), "-d", JSON.stringify({ id: job.id })]);
    expect(get.code, get.stderr).toBe(0);
    expect(JSON.parse(get.stdout).job).toEqual(job);
  });

  it("reports a bad request as invalid_argument naming the field", async () => {
    const result = await bufCurl([url("/chime.v1.JobService/GetJob"), "-d", '{"id":"not-an-id"}']);
    expect(result.code).not.toBe(0);
    const error = JSON.parse(result.stderr.slice(result.stderr.indexOf("{")));
    expect(error.code).toBe("invalid_argument");
    expect(error.message).toMatch(/^id: /);
  });

  it("calls grpc.health.v1.Health/Check", async () => {
    const overall = await bufCurl([url("/grpc.health.v1.Health/Check"), "-d", "{}"]);
    expect(overall.code, overall.stderr).toBe(0);
    expect(JSON.parse(overall.stdout)).toEqual({ status: "SERVING" });
    const jobService = await bufCurl([url("/grpc.health.v1.Health/Check"), "-d", '{"service":"chime.v1.JobService"}']);
    expect(jobService.code, jobService.stderr).toBe(0);
    expect(JSON.parse(jobService.stdout)).toEqual({ status: "SERVING" });
    const unknown = await bufCurl([url("/grpc.health.v1.Health/Check"), "-d", '{"service":"no.such.Service"}']);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/not_found/);
  });
});
