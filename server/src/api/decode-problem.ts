import { fromBinary, fromJson, ScalarType, type DescField, type DescMessage, type JsonValue } from "@bufbuild/protobuf";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { createContextKey } from "@connectrpc/connect";
import { MAX_PAYLOAD_DEPTH } from "../jobs/job-validation.js";

/**
 * Why a request body does not decode, as "field.path: problem" (INVALID_ARGUMENT), where
 * protobuf-es would only say which message type failed (and connect calls a bad binary body
 * INTERNAL). Bodies are decoded strictly: invalid UTF-8, a wire type that does not fit its
 * field, unknown JSON keys and unknown enum names are all refused.
 */

/** A request body's problem, found before connect-node decoded it (transport/strict-bodies.ts). */
export const DECODE_PROBLEM = createContextKey<string | undefined>(undefined, { description: "why the request body does not decode" });

/** Field paths as elsewhere in Chime's errors: proto names, `a.b[2].c`, `labels["k"]`, payload keys as `payload.k`. */
const join = (path: string, name: string) => (path ? `${path}.${name}` : name);

/** Where a body that is not a message at all is reported. */
const BODY_FIELD = "body";

/** protobuf-es's own nesting bound; a payload deeper than the API allows is refused later, with its path. */
const MAX_DEPTH = 100;

export const STRICT_JSON = { ignoreUnknownFields: false } as const;

const STRUCTURAL = new Set(["google.protobuf.Struct", "google.protobuf.Value", "google.protobuf.ListValue"]);
const holdsJson = new Map<string, boolean>();

/**
 * Whether a message type holds a JSON payload (Struct, Value) somewhere: its bytes are
 * walked even when they decode, since a Value with no kind decodes as null and a payload
 * nested too deep must be refused before protobuf-es's recursion limit fails the whole call.
 */
export function holdsPayload(desc: DescMessage): boolean {
  let known = holdsJson.get(desc.typeName);
  if (known !== undefined) return known;
  holdsJson.set(desc.typeName, false); // recursion guard
  known = desc.fields.some((f) => f.message !== undefined && (STRUCTURAL.has(f.message.typeName) || holdsPayload(f.message)));
  holdsJson.set(desc.typeName, known);
  return known;
}

/**
 * The problem the bytes show without decoding them (what protobuf-es would accept but the API
 * does not: a Value with no kind, a payload nested too deep; and what it would refuse, with
 * the field named). About as costly as decoding: run it only where it can find something.
 */
export function walkProblem(desc: DescMessage, bytes: Uint8Array): string | undefined {
  return walkBinary(desc, bytes, "", 0, 0, true);
}

/** The problem with a binary body for `desc`, or undefined when protobuf-es decodes it. */
export function binaryProblem(desc: DescMessage, bytes: Uint8Array): string | undefined {
  const found = walkBinary(desc, bytes, "", 0, 0);
  if (found) return found;
  try {
    fromBinary(desc, bytes);
    return undefined;
  } catch {
    return `${BODY_FIELD}: not a valid ${desc.typeName} message`;
  }
}

const VARINT_SCALARS = new Set([
  ScalarType.INT32, ScalarType.INT64, ScalarType.UINT32, ScalarType.UINT64, ScalarType.SINT32, ScalarType.SINT64, ScalarType.BOOL,
]);
const FIXED64_SCALARS = new Set([ScalarType.FIXED64, ScalarType.SFIXED64, ScalarType.DOUBLE]);

function wireTypeOf(scalar: ScalarType | undefined): WireType {
  if (scalar === undefined || VARINT_SCALARS.has(scalar)) return WireType.Varint; // undefined: an enum
  if (FIXED64_SCALARS.has(scalar)) return WireType.Bit64;
  if (scalar === ScalarType.STRING || scalar === ScalarType.BYTES) return WireType.LengthDelimited;
  return WireType.Bit32;
}

function fieldLabel(field: DescField): string {
  if (field.fieldKind === "message" || field.fieldKind === "list" && field.listKind === "message") return field.message!.typeName;
  if (field.fieldKind === "enum" || field.fieldKind === "list" && field.listKind === "enum") return field.enum!.typeName;
  if (field.fieldKind === "map") return "map";
  return ScalarType[field.scalar!].toLowerCase();
}

const byNumber = new WeakMap<DescMessage, Map<number, DescField>>();

function fieldsByNumber(desc: DescMessage): Map<number, DescField> {
  let fields = byNumber.get(desc);
  if (!fields) byNumber.set(desc, (fields = new Map(desc.fields.map((f) => [f.number, f]))));
  return fields;
}

/** `payloadOnly`: skip the fields that hold no payload (decoding checks those), walking only towards Structs. */
function walkBinary(desc: DescMessage, bytes: Uint8Array, path: string, depth: number, jsonDepth: number, payloadOnly = false): string | undefined {
  const where = path || BODY_FIELD;
  if (depth > MAX_DEPTH) return `${where}: nested more than ${MAX_DEPTH} messages deep`;
  // Payload paths read as JSON: job.payload["a"][2], not job.payload.fields["a"].list_value.values[2].
  const structural = STRUCTURAL.has(desc.typeName);
  if (desc.typeName !== "google.protobuf.Value" && structural && ++jsonDepth > MAX_PAYLOAD_DEPTH) {
    return `${where}: nested more than ${MAX_PAYLOAD_DEPTH} levels deep`;
  }
  const reader = new BinaryReader(bytes);
  const counts = new Map<number, number>();
  let seen = 0;
  while (reader.pos < reader.len) {
    const at = reader.pos;
    let fieldNo: number;
    let wireType: WireType;
    try {
      [fieldNo, wireType] = reader.tag();
      if (wireType > WireType.Bit32) throw new Error("bad wire type");
    } catch {
      return `${where}: not a valid ${desc.typeName} message (bad field tag at byte ${at})`;
    }
    const field = fieldsByNumber(desc).get(fieldNo);
    if (!field) {
      // Unknown fields are kept (a newer client may send them), if they are well formed.
      try {
        reader.skip(wireType, fieldNo);
      } catch {
        return `${where}: field number ${fieldNo} is truncated or malformed`;
      }
      continue;
    }
    seen += 1;
    if (payloadOnly && !structural && !(field.message && (STRUCTURAL.has(field.message.typeName) || holdsPayload(field.message)))) {
      try {
        reader.skip(wireType, fieldNo);
        continue;
      } catch {
        return `${join(path, field.name)}: truncated or malformed ${fieldLabel(field)}`;
      }
    }
    let index = 0;
    if (field.fieldKind === "list") {
      index = counts.get(fieldNo) ?? 0;
      counts.set(fieldNo, index + 1);
    }
    const fieldPath = structural ? path : join(path, field.name);
    const problem = walkField(field, wireType, reader, field.fieldKind === "list" ? `${fieldPath}[${index}]` : fieldPath, depth, jsonDepth, payloadOnly);
    if (problem) return problem;
  }
  if (desc.typeName === "google.protobuf.Value" && seen === 0) {
    return `${where}: a google.protobuf.Value with no kind set (send null_value for null)`;
  }
  return undefined;
}

function walkField(field: DescField, wireType: WireType, reader: BinaryReader, path: string, depth: number, jsonDepth: number, payloadOnly: boolean): string | undefined {
  const message = field.fieldKind === "message" || (field.fieldKind === "list" && field.listKind === "message") ? field.message : undefined;
  const scalar = field.fieldKind === "scalar" || field.fieldKind === "list" ? field.scalar : undefined;
  const packedOk = field.fieldKind === "list" && field.listKind !== "message" && scalar !== ScalarType.STRING && scalar !== ScalarType.BYTES;
  const expected = message || field.fieldKind === "map" ? WireType.LengthDelimited : wireTypeOf(scalar);
  if (wireType !== expected && !(packedOk && wireType === WireType.LengthDelimited)) {
    // As protobuf-es and protoc's C++ runtime do: a value whose wire type does not fit its
    // field is kept as an unknown field, so it only needs to be well formed.
    try {
      reader.skip(wireType);
      return undefined;
    } catch {
      return `${path}: truncated or malformed value (wire type ${wireType})`;
    }
  }
  try {
    if (message) return walkBinary(message, reader.bytes(), path, depth + 1, jsonDepth, payloadOnly);
    if (field.fieldKind === "map") return walkMapEntry(field, reader.bytes(), path, depth, jsonDepth, payloadOnly);
    if (scalar === ScalarType.STRING) reader.string(true);
    else if (wireType === WireType.LengthDelimited && scalar !== ScalarType.BYTES) walkPacked(reader.bytes(), wireTypeOf(scalar));
    else skipValue(reader, wireType);
  } catch (error) {
    return `${path}: ${/utf-?8/i.test((error as Error).message) ? "invalid UTF-8" : `truncated or malformed ${fieldLabel(field)}`}`;
  }
  return undefined;
}

function walkPacked(bytes: Uint8Array, wireType: WireType): void {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) skipValue(reader, wireType);
}

/** Skips a value; varints are read, since skip() does not check that they end within 10 bytes. */
function skipValue(reader: BinaryReader, wireType: WireType): void {
  if (wireType === WireType.Varint) reader.uint64();
  else reader.skip(wireType);
}

function walkMapEntry(field: DescField & { fieldKind: "map" }, bytes: Uint8Array, path: string, depth: number, jsonDepth: number, payloadOnly: boolean): string | undefined {
  const reader = new BinaryReader(bytes);
  let key = "[…]";
  const payloadKeys = field.parent.typeName === "google.protobuf.Struct";
  while (reader.pos < reader.len) {
    const [number, wireType] = reader.tag();
    if (number === 1 && field.mapKey === ScalarType.STRING && wireType === WireType.LengthDelimited) {
      const text = reader.string(true);
      key = payloadKeys ? `.${text.slice(0, 80)}` : `[${JSON.stringify(text)}]`;
    } else if (number === 2 && field.mapKind === "message" && wireType === WireType.LengthDelimited) {
      const problem = walkBinary(field.message, reader.bytes(), `${path}${key}`, depth + 1, jsonDepth, payloadOnly);
      if (problem) return problem;
    } else if (number === 2 && field.mapKind === "scalar" && field.scalar === ScalarType.STRING && wireType === WireType.LengthDelimited) {
      reader.string(true);
    } else {
      reader.skip(wireType, number);
    }
  }
  return undefined;
}

/** The problem with a JSON body for `desc` under strict options, or undefined when it decodes. */
export function jsonProblem(desc: DescMessage, text: string): string | undefined {
  let json: JsonValue;
  try {
    json = JSON.parse(text) as JsonValue;
  } catch {
    return `${BODY_FIELD}: not valid JSON`;
  }
  const found = walkJson(desc, json, "", 0);
  if (found) return found;
  try {
    fromJson(desc, json, STRICT_JSON);
    return undefined;
  } catch {
    return `${BODY_FIELD}: not a valid ${desc.typeName} in JSON`;
  }
}

/** Message types whose JSON form is not an object of their fields (google.protobuf well-known types). */
const isWellKnown = (desc: DescMessage) => desc.typeName.startsWith("google.protobuf.");

function walkJson(desc: DescMessage, json: JsonValue, path: string, depth: number): string | undefined {
  const where = path || BODY_FIELD;
  if (depth > MAX_DEPTH) return `${where}: nested more than ${MAX_DEPTH} messages deep`;
  if (json === null && path) return undefined; // null means unset
  if (typeof json !== "object" || json === null || Array.isArray(json)) return `${where}: expected a JSON object for ${desc.typeName}`;
  for (const [key, value] of Object.entries(json)) {
    const field = desc.fields.find((f) => f.jsonName === key || f.name === key);
    if (!field) return `${join(path, key)}: unknown field of ${desc.typeName}`;
    const problem = walkJsonField(desc, field, key, value, join(path, field.name), depth);
    if (problem) return problem;
  }
  return undefined;
}

function walkJsonField(parent: DescMessage, field: DescField, key: string, value: JsonValue, path: string, depth: number): string | undefined {
  if (value === null) return undefined;
  if (field.fieldKind === "message" && !isWellKnown(field.message)) return walkJson(field.message, value, path, depth + 1);
  if (field.fieldKind === "list") {
    if (!Array.isArray(value)) return `${path}: expected a JSON array`;
    for (const [i, item] of value.entries()) {
      const problem =
        field.listKind === "message" && !isWellKnown(field.message)
          ? walkJson(field.message, item, `${path}[${i}]`, depth + 1)
          : valueProblem(parent, field, key, [item], `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  if (field.fieldKind === "map") {
    if (typeof value !== "object" || Array.isArray(value)) return `${path}: expected a JSON object`;
    for (const [k, item] of Object.entries(value)) {
      const problem =
        field.mapKind === "message" && !isWellKnown(field.message)
          ? walkJson(field.message, item, `${path}[${JSON.stringify(k)}]`, depth + 1)
          : valueProblem(parent, field, key, { [k]: item }, `${path}[${JSON.stringify(k)}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  return valueProblem(parent, field, key, value, path);
}

/** Decodes one field's value on its own (in its parent message) and says what is wrong, naming no JS error. */
function valueProblem(parent: DescMessage, field: DescField, key: string, value: JsonValue, path: string): string | undefined {
  try {
    fromJson(parent, { [key]: value }, STRICT_JSON);
    return undefined;
  } catch {
    const shown = (v: JsonValue) => (JSON.stringify(v) ?? "").slice(0, 80);
    const item = Array.isArray(value) ? value[0] : typeof value === "object" && value !== null && field.fieldKind === "map" ? Object.values(value)[0] : value;
    if (field.enum) {
      const names = field.enum.values.map((v) => v.name);
      return `${path}: ${shown(item)} is not a value of ${field.enum.typeName} (expected one of ${names.join(", ")})`;
    }
    return `${path}: ${shown(item)} is not a valid ${fieldLabel(field)}`;
  }
}
