import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import type { Duration, Timestamp } from "@bufbuild/protobuf/wkt";
import type { AutoPause, HttpRequest, Job, RetryPolicy } from "@chime/sdk/gen/job_pb";
import {
  BatchCreateJobsResponseSchema,
  CreateJobResponseSchema,
  type BatchCreateJobsResponse,
  type CreateJobResponse,
} from "@chime/sdk/gen/job_service_pb";
import type { Schedule } from "@chime/sdk/gen/schedule_pb";

/**
 * Binary encoding of the answers that carry new jobs (CreateJob, BatchCreateJobs), written
 * field by field instead of by protobuf-es's reflection, which made encoding the answer the
 * largest part of the server's work on those calls (a 1,000-job answer took 20-30 ms). The
 * output is byte for byte what toBinary writes (job-wire.test.ts checks it on random jobs):
 * fields in number order, implicit-presence fields left out at their zero value, map
 * entries in key order of the object, unknown fields kept.
 *
 * Nested messages are written in place: `open` leaves room for the longest length prefix
 * and `close` writes the actual length and moves the body back over the room not needed,
 * so nothing is allocated per message.
 */
class Writer {
  private buf = Buffer.allocUnsafe(4096);
  private pos = 0;

  private ensure(bytes: number): void {
    if (this.pos + bytes <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + bytes) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** A non-negative integer below 2^53. */
  varint(value: number): void {
    this.ensure(8);
    while (value > 127) {
      this.buf[this.pos++] = (value % 128) | 128;
      value = Math.floor(value / 128);
    }
    this.buf[this.pos++] = value;
  }

  tag(field: number, wireType: number): void {
    this.varint(field * 8 + wireType);
  }

  int32(value: number): void {
    // Negative int32 values are sign-extended to 64 bits, as protobuf requires.
    if (value >= 0) this.varint(value);
    else this.int64(BigInt(value));
  }

  int64(value: bigint): void {
    if (value >= 0n && value <= 0x1f_ffff_ffff_ffffn) return this.varint(Number(value));
    let rest = BigInt.asUintN(64, value);
    this.ensure(10);
    while (rest > 0x7fn) {
      this.buf[this.pos++] = Number(rest & 0x7fn) | 0x80;
      rest >>= 7n;
    }
    this.buf[this.pos++] = Number(rest);
  }

  double(value: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(value, this.pos);
    this.pos += 8;
  }

  string(value: string): void {
    const bytes = Buffer.byteLength(value);
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(value, this.pos, bytes, "utf8");
  }

  raw(data: Uint8Array): void {
    this.ensure(data.length);
    this.buf.set(data, this.pos);
    this.pos += data.length;
  }

  /** Starts a length-delimited field's body; returns where it starts, for close. */
  open(field: number): number {
    this.tag(field, 2);
    this.ensure(5);
    const start = this.pos;
    this.pos += 5;
    return start;
  }

  close(start: number): void {
    const length = this.pos - start - 5;
    const body = this.pos;
    this.pos = start;
    this.varint(length);
    const gap = start + 5 - this.pos;
    if (gap > 0) this.buf.copyWithin(this.pos, start + 5, body);
    this.pos = body - gap;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

interface WithUnknown {
  $unknown?: { no: number; wireType: number; data: Uint8Array }[];
}

function unknownFields(w: Writer, message: WithUnknown): void {
  for (const { no, wireType, data } of message.$unknown ?? []) {
    w.tag(no, wireType);
    w.raw(data);
  }
}

function stringField(w: Writer, field: number, value: string): void {
  if (value === "") return;
  w.tag(field, 2);
  w.string(value);
}

function int32Field(w: Writer, field: number, value: number): void {
  if (value === 0) return;
  w.tag(field, 0);
  w.int32(value);
}

function int64Field(w: Writer, field: number, value: bigint): void {
  if (value === 0n) return;
  w.tag(field, 0);
  w.int64(value);
}

/** Timestamp and Duration: seconds (int64) and nanos (int32). */
function timeField(w: Writer, field: number, value: Timestamp | Duration | undefined): void {
  if (!value) return;
  const start = w.open(field);
  int64Field(w, 1, value.seconds);
  int32Field(w, 2, value.nanos);
  unknownFields(w, value);
  w.close(start);
}

function stringMapField(w: Writer, field: number, map: Record<string, string>): void {
  for (const key of Object.keys(map)) {
    const start = w.open(field);
    w.tag(1, 2);
    w.string(key);
    w.tag(2, 2);
    w.string(map[key]);
    w.close(start);
  }
}

/** google.protobuf.Struct, which protobuf-es holds as a JSON object. */
function structBody(w: Writer, object: JsonObject): void {
  for (const key of Object.keys(object)) {
    const entry = w.open(1);
    w.tag(1, 2);
    w.string(key);
    const value = w.open(2);
    valueBody(w, object[key]);
    w.close(value);
    w.close(entry);
  }
}

/** google.protobuf.Value: one of null (1), number (2), string (3), bool (4), struct (5), list (6). */
function valueBody(w: Writer, value: JsonValue): void {
  if (value === null) {
    w.tag(1, 0);
    w.varint(0);
  } else if (typeof value === "number") {
    w.tag(2, 1);
    w.double(value);
  } else if (typeof value === "string") {
    w.tag(3, 2);
    w.string(value);
  } else if (typeof value === "boolean") {
    w.tag(4, 0);
    w.varint(value ? 1 : 0);
  } else if (Array.isArray(value)) {
    const list = w.open(6);
    for (const item of value) {
      const start = w.open(1);
      valueBody(w, item);
      w.close(start);
    }
    w.close(list);
  } else {
    const struct = w.open(5);
    structBody(w, value);
    w.close(struct);
  }
}

function scheduleField(w: Writer, field: number, schedule: Schedule | undefined): void {
  if (!schedule) return;
  const start = w.open(field);
  const kind = schedule.kind;
  if (kind.case !== undefined) {
    const body = w.open(kind.case === "immediate" ? 1 : kind.case === "at" ? 2 : kind.case === "cron" ? 3 : 4);
    switch (kind.case) {
      case "at":
        timeField(w, 1, kind.value.time);
        break;
      case "cron":
        stringField(w, 1, kind.value.expression);
        stringField(w, 2, kind.value.timeZone);
        int32Field(w, 3, kind.value.dstGap);
        int32Field(w, 4, kind.value.dstRepeat);
        break;
      case "interval":
        timeField(w, 1, kind.value.every);
        timeField(w, 2, kind.value.anchor);
        break;
    }
    unknownFields(w, kind.value);
    w.close(body);
  }
  timeField(w, 10, schedule.startTime);
  timeField(w, 11, schedule.endTime);
  int64Field(w, 12, schedule.maxRuns);
  unknownFields(w, schedule);
  w.close(start);
}

function retryField(w: Writer, field: number, policy: RetryPolicy | undefined): void {
  if (!policy) return;
  const start = w.open(field);
  int32Field(w, 1, policy.maxAttempts);
  timeField(w, 2, policy.initialBackoff);
  timeField(w, 3, policy.maxBackoff);
  // Object.is, as protobuf-es tests it: -0 is written.
  if (!Object.is(policy.backoffMultiplier, 0)) {
    w.tag(4, 1);
    w.double(policy.backoffMultiplier);
  }
  if (policy.jitter !== undefined) {
    w.tag(5, 1);
    w.double(policy.jitter);
  }
  unknownFields(w, policy);
  w.close(start);
}

function httpField(w: Writer, field: number, http: HttpRequest | undefined): void {
  if (!http) return;
  const start = w.open(field);
  stringField(w, 1, http.method);
  stringField(w, 2, http.url);
  stringMapField(w, 3, http.headers);
  stringField(w, 4, http.body);
  // Repeated: every element, empty ones too (stringField leaves out the default).
  for (const name of http.keepHeaders) {
    w.tag(5, 2);
    w.string(name);
  }
  unknownFields(w, http);
  w.close(start);
}

function autoPauseField(w: Writer, field: number, pause: AutoPause | undefined): void {
  if (!pause) return;
  const start = w.open(field);
  int32Field(w, 1, pause.failureStreak);
  stringField(w, 2, pause.lastRunId);
  timeField(w, 3, pause.time);
  unknownFields(w, pause);
  w.close(start);
}

function jobField(w: Writer, field: number, job: Job | undefined): void {
  if (!job) return;
  const start = w.open(field);
  stringField(w, 1, job.id);
  stringField(w, 2, job.namespace);
  stringField(w, 3, job.name);
  stringField(w, 4, job.queue);
  if (job.payload) {
    const payload = w.open(5);
    structBody(w, job.payload);
    w.close(payload);
  }
  stringMapField(w, 6, job.labels);
  scheduleField(w, 7, job.schedule);
  retryField(w, 8, job.retryPolicy);
  timeField(w, 9, job.attemptTimeout);
  int32Field(w, 10, job.overlapPolicy);
  int32Field(w, 11, job.maxConcurrentRuns);
  int32Field(w, 12, job.misfirePolicy);
  timeField(w, 13, job.misfireWindow);
  httpField(w, 14, job.http);
  int32Field(w, 15, job.pauseAfterFailures);
  timeField(w, 16, job.maxLag);
  timeField(w, 17, job.runRetention);
  int32Field(w, 20, job.state);
  timeField(w, 21, job.nextRunTime);
  int64Field(w, 22, job.runCount);
  timeField(w, 23, job.createTime);
  timeField(w, 24, job.updateTime);
  autoPauseField(w, 25, job.autoPause);
  unknownFields(w, job);
  w.close(start);
}

export function encodeCreateJobResponse(response: CreateJobResponse): Uint8Array {
  const w = new Writer();
  jobField(w, 1, response.job);
  unknownFields(w, response);
  return w.finish();
}

export function encodeBatchCreateJobsResponse(response: BatchCreateJobsResponse): Uint8Array {
  const w = new Writer();
  for (const item of response.results) {
    const start = w.open(1);
    const result = item.result;
    if (result.case === "created" || result.case === "existing") {
      // A oneof member is written even when empty.
      if (!result.value) throw new Error("BatchCreateJobsResult: job not set");
      jobField(w, result.case === "created" ? 1 : 2, result.value);
    } else if (result.case === "error") {
      const error = w.open(3);
      int32Field(w, 1, result.value.code);
      stringField(w, 2, result.value.message);
      unknownFields(w, result.value);
      w.close(error);
    }
    unknownFields(w, item);
    w.close(start);
  }
  unknownFields(w, response);
  return w.finish();
}

/** These encoders by the type name of the message they encode, for the gRPC adapter. */
export const JOB_RESPONSE_ENCODERS: ReadonlyMap<string, (message: never) => Uint8Array> = new Map<string, (message: never) => Uint8Array>([
  [CreateJobResponseSchema.typeName, encodeCreateJobResponse],
  [BatchCreateJobsResponseSchema.typeName, encodeBatchCreateJobsResponse],
]);
