import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createRouterTransport } from "@connectrpc/connect";
import { describe, expect, it } from "vitest";
import { createChimeClientOn } from "./client.js";
import { ChimeError, codeNameOf, toChimeError } from "./errors.js";
import { JobService } from "./gen/chime/v1/job_service_pb.js";
import { WatchService } from "./gen/chime/v1/watch_service_pb.js";
import { BadRequestSchema, RetryInfoSchema } from "./gen/google/rpc/error_details_pb.js";
import { durationFromMs } from "./schedule-spec.js";

describe("codeNameOf", () => {
  const cases: Array<[Code, string]> = [
    [Code.Canceled, "CANCELED"], [Code.Unknown, "UNKNOWN"], [Code.InvalidArgument, "INVALID_ARGUMENT"], [Code.DeadlineExceeded, "DEADLINE_EXCEEDED"],
    [Code.NotFound, "NOT_FOUND"], [Code.AlreadyExists, "ALREADY_EXISTS"], [Code.PermissionDenied, "PERMISSION_DENIED"],
    [Code.ResourceExhausted, "RESOURCE_EXHAUSTED"], [Code.FailedPrecondition, "FAILED_PRECONDITION"], [Code.Aborted, "ABORTED"],
    [Code.OutOfRange, "OUT_OF_RANGE"], [Code.Unimplemented, "UNIMPLEMENTED"], [Code.Internal, "INTERNAL"], [Code.Unavailable, "UNAVAILABLE"],
    [Code.DataLoss, "DATA_LOSS"], [Code.Unauthenticated, "UNAUTHENTICATED"],
  ];
  for (const [code, name] of cases) it(name, () => expect(codeNameOf(code)).toBe(name));
});

/** A client on an in-memory JobService/WatchService whose every call throws `error`. */
function clientThrowing(error: ConnectError) {
  const transport = createRouterTransport(({ service }) => {
    service(JobService, { getJob: () => Promise.reject(error), createJob: () => Promise.reject(error) });
    service(WatchService, {
      async *watchRuns() {
        yield { kind: { case: "keepalive", value: { resumeToken: "" } } };
        throw error;
      },
    });
  });
  return createChimeClientOn({ baseUrl: "", transport });
}

describe("client calls throw ChimeError", () => {
  const badRequest = create(BadRequestSchema, { fieldViolations: [{ field: "job.queue", description: "required" }, { field: "job.name", description: "too long" }] });
  const cases: Array<[string, ConnectError, Partial<ChimeError>]> = [
    ["NOT_FOUND, no details", new ConnectError("job x not found", Code.NotFound), { code: Code.NotFound, codeName: "NOT_FOUND", rawMessage: "job x not found", fieldViolations: [], retryDelayMs: undefined }],
    [
      "INVALID_ARGUMENT with BadRequest",
      new ConnectError("job.queue: required", Code.InvalidArgument, undefined, [{ desc: BadRequestSchema, value: badRequest }]),
      { codeName: "INVALID_ARGUMENT", fieldViolations: [{ field: "job.queue", description: "required" }, { field: "job.name", description: "too long" }] },
    ],
    [
      "RESOURCE_EXHAUSTED with RetryInfo",
      new ConnectError("rate limited", Code.ResourceExhausted, undefined, [{ desc: RetryInfoSchema, value: create(RetryInfoSchema, { retryDelay: durationFromMs(1500) }) }]),
      { codeName: "RESOURCE_EXHAUSTED", retryDelayMs: 1500, fieldViolations: [] },
    ],
  ];
  for (const [label, thrown, expected] of cases) {
    it(`unary (raw client and helper): ${label}`, async () => {
      const chime = clientThrowing(thrown);
      for (const call of [() => chime.jobService.getJob({ id: "x" }), () => chime.jobs.get("x"), () => chime.createJob({ name: "n", queue: "q", schedule: "immediate" })]) {
        const error = await call().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(ChimeError);
        expect(error).toBeInstanceOf(ConnectError);
        expect(error).toMatchObject(expected);
        expect((error as ChimeError).cause).toBeInstanceOf(ConnectError);
      }
    });
    it(`stream message: ${label}`, async () => {
      const chime = clientThrowing(thrown);
      const error = await (async () => {
        for await (const _ of chime.watchService.watchRuns({})) void _;
      })().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(ChimeError);
      expect(error).toMatchObject(expected);
    });
  }
});

describe("toChimeError", () => {
  it("wraps a non-Connect error as UNKNOWN keeping it as the cause's cause", () => {
    const original = new TypeError("boom");
    const error = toChimeError(original);
    expect(error.codeName).toBe("UNKNOWN");
    expect((error.cause as ConnectError).cause).toBe(original);
  });
  it("instanceof holds for a ChimeError of another copy of the SDK (same brand, other class)", () => {
    const foreign = Object.assign(new Error("x"), { [Symbol.for("@chime/sdk/ChimeError")]: true });
    expect(foreign instanceof ChimeError).toBe(true);
    expect(new Error("x") instanceof ChimeError).toBe(false);
  });
});
