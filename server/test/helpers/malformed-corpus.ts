import { create, toBinary, toJsonString, type DescMessage, type DescMethod, type JsonObject, type JsonValue, type MessageInitShape } from "@bufbuild/protobuf";
import { BinaryWriter, WireType } from "@bufbuild/protobuf/wire";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import { JobSchema } from "@chime/sdk/gen/job_pb";
import { CreateJobRequestSchema, JobService, ListJobsRequestSchema, ListRunsRequestSchema, PreviewScheduleRequestSchema } from "@chime/sdk/gen/job_service_pb";
import { WatchRunsRequestSchema, WatchService } from "@chime/sdk/gen/watch_service_pb";
import type { RawRequest } from "./raw-calls.js";

/**
 * Malformed requests, one per class the API must refuse with INVALID_ARGUMENT naming the
 * field: undecodable protobuf (garbage, bad varints, truncation, invalid UTF-8, wrong wire
 * types), out-of-range timestamps, NaN/±Infinity and kind-less values in payloads, payloads
 * nested too deep, unknown JSON fields and enum names, CRLF in http header values, page
 * sizes above 1,000 and invalid namespace filters. Each is sent on every protocol it can be
 * expressed in: `binary` over gRPC, Connect proto and gRPC-Web, `json` over Connect JSON.
 */
export interface MalformedCase {
  what: string;
  method: DescMethod;
  /** The field path the error must name (and a BadRequest violation must carry). */
  field: string;
  binary?: Uint8Array;
  json?: string;
}

export function requestOf(method: DescMethod, body: Uint8Array | string): RawRequest {
  return {
    path: `${method.parent.typeName}/${method.name}`,
    streaming: method.methodKind === "server_streaming",
    binary: typeof body === "string" ? new Uint8Array(0) : body,
    json: typeof body === "string" ? body : "",
  };
}

const method = (service: typeof JobService | typeof WatchService, name: string) => service.methods.find((m) => m.name === name)!;
const listJobs = method(JobService, "ListJobs");
const listRuns = method(JobService, "ListRuns");
const createJob = method(JobService, "CreateJob");
const previewSchedule = method(JobService, "PreviewSchedule");
const watchRuns = method(WatchService, "WatchRuns");

const fieldNo = (desc: DescMessage, name: string) => desc.fields.find((f) => f.name === name)!.number;
const bin = <D extends DescMessage>(desc: D, init: MessageInitShape<D>) => toBinary(desc, create(desc, init));
const json = <D extends DescMessage>(desc: D, init: MessageInitShape<D>) => toJsonString(desc, create(desc, init));

const JOB = { name: "corpus", queue: "corpus", schedule: { kind: { case: "immediate" as const, value: {} } } };
const JOB_JSON = { name: "corpus", queue: "corpus", schedule: { immediate: {} } };
const jobJson = (extra: Record<string, unknown>) => JSON.stringify({ job: { ...JOB_JSON, ...extra } });

const nested = (depth: number): JsonValue => (depth === 0 ? 1 : { a: nested(depth - 1) });

/** A CreateJob whose job carries this payload (protobuf-es writes NaN and ±Infinity as they are). */
const createWithPayload = (payload: JsonObject) => bin(CreateJobRequestSchema, { job: { ...JOB, payload } });

/** CreateJob with the job's field `name` written as these raw bytes (length-delimited). */
function createWithRawJobField(name: string, raw: Uint8Array): Uint8Array {
  const job = new BinaryWriter().tag(fieldNo(JobSchema, "queue"), WireType.LengthDelimited).string("corpus");
  job.tag(fieldNo(JobSchema, name), WireType.LengthDelimited).bytes(raw);
  return new BinaryWriter().tag(fieldNo(CreateJobRequestSchema, "job"), WireType.LengthDelimited).bytes(job.finish()).finish();
}

/** A Struct {key: Value{}} (or {key: [Value{}]}): what a client that misspells a Value's kind field sends. */
function kindlessStruct(key: string, inList = false): Uint8Array {
  const empty = new Uint8Array(0);
  const value = inList
    ? new BinaryWriter().tag(ValueSchema.fields.find((f) => f.name === "list_value")!.number, WireType.LengthDelimited)
        .bytes(new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(empty).finish()).finish()
    : empty;
  const entry = new BinaryWriter().tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited).bytes(value).finish();
  return new BinaryWriter().tag(1, WireType.LengthDelimited).bytes(entry).finish();
}

const INVALID_UTF8 = new Uint8Array([0x61, 0xc3, 0x28, 0xff]);
const MAX_INT64 = 9_223_372_036_854_775_807n;

function undecodable(): MalformedCase[] {
  const cases: MalformedCase[] = [];
  // Not a message at all, for every method of both services.
  for (const m of [...JobService.methods, ...WatchService.methods]) {
    cases.push({ what: `${m.name}: bad wire type`, method: m, field: "body", binary: new Uint8Array([0x07, 0x01]) });
    cases.push({ what: `${m.name}: tag varint over 10 bytes`, method: m, field: "body", binary: new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]) });
    cases.push({ what: `${m.name}: not JSON`, method: m, field: "body", json: "{not json" });
    cases.push({ what: `${m.name}: a JSON array`, method: m, field: "body", json: "[1,2]" });
  }
  cases.push(
    { what: "page_size varint never ends", method: listJobs, field: "page_size", binary: new Uint8Array([0x08, 0xff, 0xff, 0xff]) },
    { what: "page_size varint over 10 bytes", method: listJobs, field: "page_size", binary: new Uint8Array([0x08, ...Array(11).fill(0xff), 0x01]) },
    { what: "page_size as an unterminated group", method: listJobs, field: "page_size", binary: new Uint8Array([0x0b, 0x10, 0x01]) },
    { what: "namespace as a varint that never ends", method: listJobs, field: "namespace", binary: new Uint8Array([(fieldNo(ListJobsRequestSchema, "namespace") << 3) | 0, 0x81]) },
    { what: "namespace invalid UTF-8", method: listJobs, field: "namespace", binary: new BinaryWriter().tag(fieldNo(ListJobsRequestSchema, "namespace"), WireType.LengthDelimited).bytes(INVALID_UTF8).finish() },
    { what: "job truncated", method: createJob, field: "job", binary: new Uint8Array([0x0a, 0x64, 0x0a, 0x01]) },
    { what: "job.name invalid UTF-8", method: createJob, field: "job.name", binary: createWithRawJobField("name", INVALID_UTF8) },
    { what: "job.schedule truncated inside", method: createJob, field: "job.schedule", binary: createWithRawJobField("schedule", new Uint8Array([0x0a, 0x10, 0x0a])) },
    { what: "WatchRuns namespace invalid UTF-8", method: watchRuns, field: "namespace", binary: new BinaryWriter().tag(fieldNo(WatchRunsRequestSchema, "namespace"), WireType.LengthDelimited).bytes(INVALID_UTF8).finish() },
  );
  return cases;
}

function badValues(): MalformedCase[] {
  return [
    // Timestamps beyond what a date can hold.
    { what: "scheduled_after at seconds 2^63-1", method: listRuns, field: "scheduled_after", binary: bin(ListRunsRequestSchema, { scheduledAfter: { seconds: MAX_INT64 } }) },
    { what: "scheduled_before at seconds -2^63", method: listRuns, field: "scheduled_before", binary: bin(ListRunsRequestSchema, { scheduledBefore: { seconds: -MAX_INT64 - 1n } }) },
    { what: "scheduled_after with negative nanos", method: listRuns, field: "scheduled_after", binary: bin(ListRunsRequestSchema, { scheduledAfter: { seconds: 1n, nanos: -1 } }) },
    { what: "scheduled_after in year 10000", method: listRuns, field: "scheduled_after", json: '{"scheduledAfter":"10000-01-01T00:00:00Z"}' },
    { what: "scheduled_after in year 0", method: listRuns, field: "scheduled_after", json: '{"scheduledAfter":"0000-01-01T00:00:00Z"}' },
    { what: "PreviewSchedule after at seconds 2^63-1", method: previewSchedule, field: "after", binary: bin(PreviewScheduleRequestSchema, { schedule: JOB.schedule, after: { seconds: MAX_INT64 } }) },
    // Payload numbers JSON cannot hold, kind-less values, and nesting past the bound.
    { what: "payload NaN", method: createJob, field: 'job.payload.x', binary: createWithPayload({ x: NaN }) },
    { what: "payload Infinity", method: createJob, field: 'job.payload.x', binary: createWithPayload({ x: Infinity }) },
    { what: "payload -Infinity in a list", method: createJob, field: 'job.payload.a[1]', binary: createWithPayload({ a: [1, -Infinity] }) },
    { what: "payload 1e999 in JSON", method: createJob, field: 'job.payload.x', json: jobJson({ payload: { x: "__INF__" } }).replace('"__INF__"', "1e999") },
    { what: "payload Value with no kind", method: createJob, field: 'job.payload.x', binary: createWithRawJobField("payload", kindlessStruct("x")) },
    { what: "payload Value with no kind in a list", method: createJob, field: 'job.payload.x[0]', binary: createWithRawJobField("payload", kindlessStruct("x", true)) },
    { what: "payload nested 50 deep", method: createJob, field: 'job.payload.a', binary: createWithPayload({ a: nested(50) }) },
    { what: "payload nested 50 deep in JSON", method: createJob, field: 'job.payload.a', json: jobJson({ payload: nested(50) }) },
    // Strict JSON: unknown keys and enum names are refused, not dropped.
    { what: "unknown job field", method: createJob, field: "job.nmae", json: jobJson({ nmae: "x" }) },
    { what: "unknown top-level field", method: listJobs, field: "bogus", json: '{"pageSize":1,"bogus":true}' },
    { what: "misspelled overlap policy", method: createJob, field: "job.overlap_policy", json: jobJson({ overlapPolicy: "OVERLAP_POLICY_SKIPP" }) },
    { what: "unknown job state", method: listJobs, field: "state", json: '{"state":"JOB_STATE_NOPE"}' },
    { what: "unknown run state in a list", method: listRuns, field: "states[1]", json: '{"states":["RUN_STATE_QUEUED","RUN_STATE_NOPE"]}' },
    { what: "max_runs beyond int64", method: createJob, field: "job.schedule.max_runs", json: jobJson({ schedule: { immediate: {}, maxRuns: "99999999999999999999" } }) },
    { what: "page_size not a number", method: listJobs, field: "page_size", json: '{"pageSize":"many"}' },
    { what: "page_size 1e20", method: listJobs, field: "page_size", json: '{"pageSize":1e20}' },
    // Header values that would split the request.
    ...["a\r\nInjected: 1", "a\nb", "a\u0000b"].map((value) => {
      const job = { ...JOB, queue: "http", http: { url: "https://example.com/hook", headers: { "X-A": value } } };
      return { what: `http header value ${JSON.stringify(value)}`, method: createJob, field: 'job.http.headers["X-A"]', binary: bin(CreateJobRequestSchema, { job }), json: json(CreateJobRequestSchema, { job }) };
    }),
    // Bounds of list calls.
    { what: "ListJobs page_size 1001", method: listJobs, field: "page_size", binary: bin(ListJobsRequestSchema, { pageSize: 1001 }), json: '{"pageSize":1001}' },
    { what: "ListRuns page_size 2^31-1", method: listRuns, field: "page_size", binary: bin(ListRunsRequestSchema, { pageSize: 2 ** 31 - 1 }), json: `{"pageSize":${2 ** 31 - 1}}` },
    ...["a b", "x.y", "*", "n".repeat(65)].flatMap((namespace) => [
      { what: `ListJobs namespace ${namespace.slice(0, 10)}`, method: listJobs, field: "namespace", binary: bin(ListJobsRequestSchema, { namespace }), json: JSON.stringify({ namespace }) },
      { what: `WatchRuns namespace ${namespace.slice(0, 10)}`, method: watchRuns, field: "namespace", binary: bin(WatchRunsRequestSchema, { namespace }), json: JSON.stringify({ namespace }) },
    ]),
  ];
}

export function malformedCorpus(): MalformedCase[] {
  return [...undecodable(), ...badValues()];
}
