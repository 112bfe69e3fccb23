/**
 * chime.v1.RunAssignment without reflection: the scheduler encodes one per run and every
 * worker decodes one per delivery. Writes exactly toBinary's bytes and reads exactly
 * fromBinary's object (wire.test.ts checks both on generated messages).
 */
import { WireType, BinaryReader } from "@bufbuild/protobuf/wire";
import { Writer } from "./writer.js";
import { HttpRequestSchema, RetryPolicySchema, type HttpRequest, type RetryPolicy } from "../gen/chime/v1/job_pb.js";
import { RunAssignmentSchema, type RunAssignment } from "../gen/chime/v1/worker_pb.js";
import {
  fieldNumbers,
  fork,
  newDuration,
  newTimestamp,
  readSecondsNanos,
  readStringMapEntry,
  readUnknown,
  writeSecondsNanos,
  writeStringMap,
  writeStruct,
  writeUnknown,
  type UnknownField,
} from "./fields.js";
import { readStruct } from "./struct-reader.js";

const F = fieldNumbers(RunAssignmentSchema);
const RETRY = fieldNumbers(RetryPolicySchema);
const HTTP = fieldNumbers(HttpRequestSchema);
/** Whether strings are checked for valid UTF-8 when read (proto3: yes), as the descriptors say. */
const UTF8 = RunAssignmentSchema.field.runId.utf8Validation;

type Unknown = { $unknown?: UnknownField[] };
const unknownOf = (message: object) => (message as Unknown).$unknown;

const writer = new Writer();

export function encodeRunAssignment(message: RunAssignment): Uint8Array {
  return writeRunAssignment(writer.reset(), message).finish();
}

function writeRunAssignment(w: Writer, m: RunAssignment): Writer {
  if (m.runId !== "") w.tag(F.runId, WireType.LengthDelimited).string(m.runId);
  if (m.jobId !== "") w.tag(F.jobId, WireType.LengthDelimited).string(m.jobId);
  if (m.jobName !== "") w.tag(F.jobName, WireType.LengthDelimited).string(m.jobName);
  if (m.namespace !== "") w.tag(F.namespace, WireType.LengthDelimited).string(m.namespace);
  if (m.queue !== "") w.tag(F.queue, WireType.LengthDelimited).string(m.queue);
  if (m.scheduledTime !== undefined) writeSecondsNanos(w, F.scheduledTime, m.scheduledTime);
  if (m.payload !== undefined) writeStruct(w, F.payload, m.payload);
  writeStringMap(w, F.labels, m.labels);
  if (m.retryPolicy !== undefined) writeRetryPolicy(w, m.retryPolicy);
  if (m.attemptTimeout !== undefined) writeSecondsNanos(w, F.attemptTimeout, m.attemptTimeout);
  if (m.http !== undefined) writeHttp(w, m.http);
  writeUnknown(w, unknownOf(m));
  return w;
}

function writeRetryPolicy(w: Writer, p: RetryPolicy): void {
  fork(w, F.retryPolicy);
  if (p.maxAttempts !== 0) w.tag(RETRY.maxAttempts, WireType.Varint).int32(p.maxAttempts);
  if (p.initialBackoff !== undefined) writeSecondsNanos(w, RETRY.initialBackoff, p.initialBackoff);
  if (p.maxBackoff !== undefined) writeSecondsNanos(w, RETRY.maxBackoff, p.maxBackoff);
  if (!Object.is(p.backoffMultiplier, 0)) w.tag(RETRY.backoffMultiplier, WireType.Bit64).double(p.backoffMultiplier);
  if (p.jitter !== undefined) w.tag(RETRY.jitter, WireType.Bit64).double(p.jitter); // explicit presence: 0 is written
  writeUnknown(w, unknownOf(p));
  w.join();
}

function writeHttp(w: Writer, h: HttpRequest): void {
  fork(w, F.http);
  if (h.method !== "") w.tag(HTTP.method, WireType.LengthDelimited).string(h.method);
  if (h.url !== "") w.tag(HTTP.url, WireType.LengthDelimited).string(h.url);
  writeStringMap(w, HTTP.headers, h.headers);
  if (h.body !== "") w.tag(HTTP.body, WireType.LengthDelimited).string(h.body);
  for (const name of h.keepHeaders) w.tag(HTTP.keepHeaders, WireType.LengthDelimited).string(name);
  writeUnknown(w, unknownOf(h));
  w.join();
}

export function decodeRunAssignment(bytes: Uint8Array): RunAssignment {
  const r = new BinaryReader(bytes);
  const m: RunAssignment = { $typeName: "chime.v1.RunAssignment", runId: "", jobId: "", jobName: "", namespace: "", queue: "", labels: {} };
  while (r.pos < r.len) {
    const [no, wireType] = r.tag();
    switch (no) {
      case F.runId:
        m.runId = r.string(UTF8);
        break;
      case F.jobId:
        m.jobId = r.string(UTF8);
        break;
      case F.jobName:
        m.jobName = r.string(UTF8);
        break;
      case F.namespace:
        m.namespace = r.string(UTF8);
        break;
      case F.queue:
        m.queue = r.string(UTF8);
        break;
      case F.scheduledTime:
        m.scheduledTime = readSecondsNanos(r, 2, m.scheduledTime ?? newTimestamp());
        break;
      case F.payload:
        m.payload = readStruct(r, r.uint32(), 2, m.payload ?? {});
        break;
      case F.labels:
        readStringMapEntry(r, m.labels, UTF8);
        break;
      case F.retryPolicy:
        m.retryPolicy = readRetryPolicy(r, m.retryPolicy);
        break;
      case F.attemptTimeout:
        m.attemptTimeout = readSecondsNanos(r, 2, m.attemptTimeout ?? newDuration());
        break;
      case F.http:
        m.http = readHttp(r, m.http);
        break;
      default:
        readUnknown(r, no, wireType, 1, m);
    }
  }
  return m;
}

function readRetryPolicy(r: BinaryReader, into: RetryPolicy | undefined): RetryPolicy {
  const p: RetryPolicy = into ?? { $typeName: "chime.v1.RetryPolicy", maxAttempts: 0, backoffMultiplier: 0 };
  const end = r.uint32() + r.pos;
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    switch (no) {
      case RETRY.maxAttempts:
        p.maxAttempts = r.int32();
        break;
      case RETRY.initialBackoff:
        p.initialBackoff = readSecondsNanos(r, 3, p.initialBackoff ?? newDuration());
        break;
      case RETRY.maxBackoff:
        p.maxBackoff = readSecondsNanos(r, 3, p.maxBackoff ?? newDuration());
        break;
      case RETRY.backoffMultiplier:
        p.backoffMultiplier = r.double();
        break;
      case RETRY.jitter:
        p.jitter = r.double();
        break;
      default:
        readUnknown(r, no, wireType, 2, p);
    }
  }
  return p;
}

function readHttp(r: BinaryReader, into: HttpRequest | undefined): HttpRequest {
  const h: HttpRequest = into ?? { $typeName: "chime.v1.HttpRequest", method: "", url: "", headers: {}, body: "", keepHeaders: [] };
  const end = r.uint32() + r.pos;
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    switch (no) {
      case HTTP.method:
        h.method = r.string(UTF8);
        break;
      case HTTP.url:
        h.url = r.string(UTF8);
        break;
      case HTTP.headers:
        readStringMapEntry(r, h.headers, UTF8);
        break;
      case HTTP.body:
        h.body = r.string(UTF8);
        break;
      case HTTP.keepHeaders:
        h.keepHeaders.push(r.string(UTF8));
        break;
      default:
        readUnknown(r, no, wireType, 2, h);
    }
  }
  return h;
}
