import type { DescField, DescMessage, Message } from "@bufbuild/protobuf";
import { invalidArgument } from "./errors.js";

/**
 * Checks every request, whatever its method, for values protobuf decodes but no code
 * should see: timestamps outside 0001-01-01..9999-12-31 (an invalid Date reaching SQL) and
 * durations outside ±10,000 years or with nanos of the wrong size or sign (jobs and
 * schedules are left to job-validation.ts, payloads included). Each problem names its field path.
 */

/** Validated in full by jobs/job-validation.ts, which reports all of a job's problems together. */
const VALIDATED_ELSEWHERE = new Set(["chime.v1.Job", "chime.v1.Schedule"]);

const MIN_TIMESTAMP_SECONDS = -62_135_596_800n; // 0001-01-01T00:00:00Z
const MAX_TIMESTAMP_SECONDS = 253_402_300_799n; // 9999-12-31T23:59:59Z
const MAX_DURATION_SECONDS = 315_576_000_000n;

/** Per message type, its fields that can hold a Timestamp, Duration or Struct somewhere below (computed once). */
const interesting = new Map<string, DescField[]>();

function fieldsToCheck(desc: DescMessage): DescField[] {
  let fields = interesting.get(desc.typeName);
  if (fields) return fields;
  fields = [];
  interesting.set(desc.typeName, fields); // recursion guard: a type being computed has nothing yet
  for (const field of desc.fields) {
    const message = field.fieldKind === "message" ? field.message : field.fieldKind === "list" && field.listKind === "message" ? field.message : field.fieldKind === "map" && field.mapKind === "message" ? field.message : undefined;
    if (!message || VALIDATED_ELSEWHERE.has(message.typeName)) continue;
    if (CHECKS.has(message.typeName) || fieldsToCheck(message).length > 0) fields.push(field);
  }
  return fields;
}

type Check = (value: never, path: string, problems: string[]) => void;

const CHECKS = new Map<string, Check>([
  ["google.protobuf.Timestamp", (t: { seconds: bigint; nanos: number }, path, problems) => {
    if (t.seconds < MIN_TIMESTAMP_SECONDS || t.seconds > MAX_TIMESTAMP_SECONDS) {
      problems.push(`${path}: seconds ${t.seconds} is outside 0001-01-01..9999-12-31`);
    } else if (t.nanos < 0 || t.nanos > 999_999_999) {
      problems.push(`${path}: nanos ${t.nanos} must be 0..999999999`);
    }
  }],
  ["google.protobuf.Duration", (d: { seconds: bigint; nanos: number }, path, problems) => {
    if (d.seconds < -MAX_DURATION_SECONDS || d.seconds > MAX_DURATION_SECONDS) {
      problems.push(`${path}: seconds ${d.seconds} is outside ±${MAX_DURATION_SECONDS}`);
    } else if (d.nanos < -999_999_999 || d.nanos > 999_999_999 || (d.seconds > 0n && d.nanos < 0) || (d.seconds < 0n && d.nanos > 0)) {
      problems.push(`${path}: nanos ${d.nanos} must be -999999999..999999999 with the sign of seconds`);
    }
  }],
]);

function walk(desc: DescMessage, message: Record<string, unknown>, path: string, problems: string[]): void {
  const check = CHECKS.get(desc.typeName);
  if (check) {
    check(message as never, path, problems);
    return;
  }
  for (const field of fieldsToCheck(desc)) {
    const value = oneofValue(field, message);
    if (value === undefined || value === null) continue;
    const name = path ? `${path}.${field.name}` : field.name;
    const child = field.message!;
    if (field.fieldKind === "list") (value as Record<string, unknown>[]).forEach((item, i) => walk(child, item, `${name}[${i}]`, problems));
    else if (field.fieldKind === "map") {
      for (const [key, item] of Object.entries(value as Record<string, Record<string, unknown>>)) walk(child, item, `${name}[${JSON.stringify(key)}]`, problems);
    } else walk(child, value as Record<string, unknown>, name, problems);
  }
}

/** A field's value, also when it is a member of a oneof (protobuf-es keeps those under the oneof's name). */
function oneofValue(field: DescField, message: Record<string, unknown>): unknown {
  if (!field.oneof) return message[field.localName];
  const oneof = message[field.oneof.localName] as { case?: string; value?: unknown } | undefined;
  return oneof?.case === field.localName ? oneof.value : undefined;
}

/** Throws INVALID_ARGUMENT naming every malformed field of a request. */
export function checkRequestShape(desc: DescMessage, request: Message): void {
  if (fieldsToCheck(desc).length === 0) return;
  const problems: string[] = [];
  walk(desc, request as unknown as Record<string, unknown>, "", problems);
  if (problems.length > 0) throw invalidArgument(problems.join("; "));
}
