import { describe, expect, it } from "vitest";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { JobSchema, type Job } from "./gen/chime/v1/job_pb.js";
import { BatchCreateJobsResultSchema, type BatchCreateJobsResult } from "./gen/chime/v1/job_service_pb.js";
import { createJobCoalescer, type CreateJobInit, type CreateSenders } from "./create-coalescer.js";

const request = (name: string): CreateJobInit => ({ job: { name, queue: "q" }, requestId: "" });
const nameOf = (r: CreateJobInit) => r.job!.name!;
const job = (name: string, id = `id-${name}`): Job => create(JobSchema, { id, name, queue: "q" });
const created = (name: string): BatchCreateJobsResult => create(BatchCreateJobsResultSchema, { result: { case: "created", value: job(name) } });
const existing = (name: string): BatchCreateJobsResult => create(BatchCreateJobsResultSchema, { result: { case: "existing", value: job(name, "id-earlier") } });
const refused = (code: Code, message: string): BatchCreateJobsResult => create(BatchCreateJobsResultSchema, { result: { case: "error", value: { code, message } } });

/** Senders that record every call and answer by the given rules. */
function recordingSenders(answers: {
  single?: (r: CreateJobInit) => Job | Error;
  batch?: (rs: CreateJobInit[]) => BatchCreateJobsResult[] | Error;
}) {
  const calls: string[] = [];
  const senders: CreateSenders = {
    single: async (r) => {
      calls.push(`single ${nameOf(r)}`);
      const answer = answers.single?.(r) ?? job(nameOf(r));
      if (answer instanceof Error) throw answer;
      return answer;
    },
    batch: async (rs) => {
      calls.push(`batch ${rs.map(nameOf).join(",")}`);
      const answer = answers.batch?.(rs) ?? rs.map((r) => created(nameOf(r)));
      if (answer instanceof Error) throw answer;
      return answer;
    },
  };
  return { calls, senders };
}

/** Each call's outcome: the job's id, or the error's code name and message. */
const outcomes = (promises: Promise<Job>[]) =>
  Promise.all(promises.map((p) => p.then((j) => j.id, (e: unknown) => (e instanceof ConnectError ? `${Code[e.code]}: ${e.rawMessage}` : `Error: ${(e as Error).message}`))));

describe("createJobCoalescer", () => {
  const cases: {
    what: string;
    names: string[];
    maxBatch?: number;
    single?: (r: CreateJobInit) => Job | Error;
    batch?: (rs: CreateJobInit[]) => BatchCreateJobsResult[] | Error;
    calls: string[];
    outcomes: string[];
  }[] = [
    { what: "a lone call is a plain CreateJob", names: ["a"], calls: ["single a"], outcomes: ["id-a"] },
    { what: "calls of one turn share one batch, in order", names: ["a", "b", "c"], calls: ["batch a,b,c"], outcomes: ["id-a", "id-b", "id-c"] },
    { what: "a full batch goes at once, the rest after", names: ["a", "b", "c", "d", "e"], maxBatch: 2, calls: ["batch a,b", "batch c,d", "single e"], outcomes: ["id-a", "id-b", "id-c", "id-d", "id-e"] },
    { what: "a batch size of 1 sends every call alone", names: ["a", "b"], maxBatch: 1, calls: ["single a", "single b"], outcomes: ["id-a", "id-b"] },
    {
      what: "the job of an earlier request id is the caller's",
      names: ["a", "b"],
      batch: () => [created("a"), existing("b")],
      calls: ["batch a,b"],
      outcomes: ["id-a", "id-earlier"],
    },
    {
      what: "an item the batch refused is asked alone, and gets CreateJob's answer",
      names: ["a", "bad", "taken"],
      batch: () => [created("a"), refused(Code.InvalidArgument, "jobs[1].job.schedule: required"), refused(Code.AlreadyExists, "jobs[2].job.name: taken")],
      single: (r) => new ConnectError(`job.${nameOf(r) === "bad" ? "schedule: required" : "name: taken"}`, nameOf(r) === "bad" ? Code.InvalidArgument : Code.AlreadyExists),
      calls: ["batch a,bad,taken", "single bad", "single taken"],
      outcomes: ["id-a", "InvalidArgument: job.schedule: required", "AlreadyExists: job.name: taken"],
    },
    {
      what: "a refused item that succeeds alone (its name freed meanwhile) is created",
      names: ["a", "b"],
      batch: () => [created("a"), refused(Code.AlreadyExists, "jobs[1].job.name: taken")],
      calls: ["batch a,b", "single b"],
      outcomes: ["id-a", "id-b"],
    },
    ...[Code.PermissionDenied, Code.ResourceExhausted, Code.InvalidArgument, Code.FailedPrecondition, Code.Unimplemented].map((code) => ({
      what: `a whole batch refused with ${Code[code]} is asked item by item`,
      names: ["a", "b"],
      batch: () => new ConnectError("refused", code),
      single: (r: CreateJobInit) => (nameOf(r) === "b" ? new ConnectError("b refused", code) : job("a")),
      calls: ["batch a,b", "single a", "single b"],
      outcomes: ["id-a", `${Code[code]}: b refused`],
    })),
    ...[Code.Unavailable, Code.DeadlineExceeded, Code.Unauthenticated, Code.Internal].map((code) => ({
      what: `a whole batch failing with ${Code[code]} fails every caller, nothing asked again`,
      names: ["a", "b"],
      batch: () => new ConnectError("down", code),
      calls: ["batch a,b"],
      outcomes: [`${Code[code]}: down`, `${Code[code]}: down`],
    })),
    {
      what: "an answer with the wrong number of results fails every caller",
      names: ["a", "b"],
      batch: () => [created("a")],
      calls: ["batch a,b"],
      outcomes: ["Error: createJob: BatchCreateJobs answered 1 results for 2 jobs", "Error: createJob: BatchCreateJobs answered 1 results for 2 jobs"],
    },
  ];

  for (const c of cases) {
    it(c.what, async () => {
      const { calls, senders } = recordingSenders({ single: c.single, batch: c.batch });
      const createJob = createJobCoalescer(senders, c.maxBatch ?? 100);
      expect(await outcomes(c.names.map((name) => createJob(request(name))))).toEqual(c.outcomes);
      expect(calls).toEqual(c.calls);
    });
  }

  it("sends calls of later turns in batches of their own", async () => {
    const { calls, senders } = recordingSenders({});
    const createJob = createJobCoalescer(senders, 100);
    const first = [createJob(request("a")), createJob(request("b"))];
    await Promise.all(first);
    const second = [createJob(request("c")), createJob(request("d"))];
    expect(await outcomes([...first, ...second])).toEqual(["id-a", "id-b", "id-c", "id-d"]);
    expect(calls).toEqual(["batch a,b", "batch c,d"]);
  });
});
