/**
 * Building blocks of the hand-written codecs (run-assignment.ts, run-status.ts). Each mirrors
 * what protobuf-es's reflective toBinary/fromBinary do for one kind of field (same order, same
 * presence rules, same unknown-field handling), so the codecs write the same bytes and read
 * the same objects without walking descriptors for every message.
 */
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { DurationSchema, ListValueSchema, StructSchema, TimestampSchema, ValueSchema, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";
import { Writer } from "./writer.js";

/** An unknown field as protobuf-es keeps it (`$unknown`); written back after the known ones. */
export interface UnknownField {
  no: number;
  wireType: WireType;
  data: Uint8Array;
}

type Numbers<S extends { field: Record<string, { number: number }> }> = { [K in keyof S["field"]]: number };

/** The field numbers of a generated message by local name, read from its descriptor (never spelt out here). */
export function fieldNumbers<S extends { field: Record<string, { number: number }> }>(schema: S): Numbers<S> {
  return Object.fromEntries(Object.entries(schema.field).map(([name, f]) => [name, f.number])) as Numbers<S>;
}

/** protobuf-es's default recursion limit: how deep messages nest, and groups are skipped. */
export const RECURSION_LIMIT = 100;

/** Reads an unknown field the way fromBinary does, keeping it on `target`. */
export function readUnknown(reader: BinaryReader, no: number, wireType: WireType, depth: number, target: { $unknown?: UnknownField[] }): void {
  const data = reader.skip(wireType, no, RECURSION_LIMIT - depth);
  (target.$unknown ??= []).push({ no, wireType, data });
}

export function writeUnknown(writer: Writer, unknown: UnknownField[] | undefined): void {
  if (unknown) for (const { no, wireType, data } of unknown) writer.tag(no, wireType).raw(data);
}

/** Starts a length-delimited sub-message: its fields follow, then `writer.join()`. */
export const fork = (writer: Writer, no: number) => writer.tag(no, WireType.LengthDelimited).fork();

// ---- google.protobuf.Timestamp and Duration (the same two fields) ----

const TS = fieldNumbers(TimestampSchema);
const DUR = fieldNumbers(DurationSchema);
if (TS.seconds !== DUR.seconds || TS.nanos !== DUR.nanos) throw new Error("wire: Timestamp and Duration differ in field numbers");

type SecondsNanos = Timestamp | Duration;

export function writeSecondsNanos(writer: Writer, no: number, value: SecondsNanos): void {
  fork(writer, no);
  if (value.seconds !== 0n) writer.tag(TS.seconds, WireType.Varint).int64(value.seconds);
  if (value.nanos !== 0) writer.tag(TS.nanos, WireType.Varint).int32(value.nanos);
  writeUnknown(writer, (value as { $unknown?: UnknownField[] }).$unknown);
  writer.join();
}

/** Reads a Timestamp or Duration occurrence, merging into `into` when the field came before. */
export function readSecondsNanos<T extends SecondsNanos>(reader: BinaryReader, depth: number, into: T): T {
  const end = reader.uint32() + reader.pos;
  while (reader.pos < end) {
    const [no, wireType] = reader.tag();
    if (no === TS.seconds) into.seconds = reader.int64() as bigint;
    else if (no === TS.nanos) into.nanos = reader.int32();
    else readUnknown(reader, no, wireType, depth, into);
  }
  return into;
}

export const newTimestamp = (): Timestamp => ({ $typeName: "google.protobuf.Timestamp", seconds: 0n, nanos: 0 });
export const newDuration = (): Duration => ({ $typeName: "google.protobuf.Duration", seconds: 0n, nanos: 0 });

// ---- map<string, string> ----

export function writeStringMap(writer: Writer, no: number, map: { [key: string]: string }): void {
  for (const key in map) {
    fork(writer, no).tag(1, WireType.LengthDelimited).string(key).tag(2, WireType.LengthDelimited).string(map[key]).join();
  }
}

/** One map entry, as fromBinary reads it: missing key or value is "", other fields are not skipped (as there). */
export function readStringMapEntry(reader: BinaryReader, map: { [key: string]: string }, utf8: boolean): void {
  const end = reader.uint32() + reader.pos;
  let key = "";
  let value = "";
  while (reader.pos < end) {
    const [no] = reader.tag();
    if (no === 1) key = reader.string(utf8);
    else if (no === 2) value = reader.string(utf8);
  }
  setOwn(map, key, value);
}

/** Sets a key as protobuf-es does: "__proto__" becomes an own key, never the object's prototype. */
export function setOwn<T>(target: { [key: string]: T }, key: string, value: T): void {
  if (key === "__proto__") Object.defineProperty(target, key, { value, writable: true, enumerable: true, configurable: true });
  else target[key] = value;
}

// ---- google.protobuf.Struct, held as a JsonObject (read by struct-reader.ts) ----

const STRUCT = fieldNumbers(StructSchema);
const VALUE = fieldNumbers(ValueSchema);
const LIST = fieldNumbers(ListValueSchema);

/** Writes a JsonObject as the Struct protobuf-es would make of it (reflect.js wktStructToReflect). */
export function writeStruct(writer: Writer, no: number, json: JsonObject): void {
  fork(writer, no);
  writeStructFields(writer, json);
  writer.join();
}

function writeStructFields(writer: Writer, json: JsonObject): void {
  // Every own key, "__proto__" included (JSON.parse makes it an own key; protobuf-es keeps it as one).
  for (const key of Object.keys(json)) {
    fork(writer, STRUCT.fields).tag(1, WireType.LengthDelimited).string(key);
    fork(writer, 2);
    writeValueFields(writer, json[key]);
    writer.join().join();
  }
}

function writeValueFields(writer: Writer, json: JsonValue): void {
  switch (typeof json) {
    case "number":
      writer.tag(VALUE.numberValue, WireType.Bit64).double(json);
      return;
    case "string":
      writer.tag(VALUE.stringValue, WireType.LengthDelimited).string(json);
      return;
    case "boolean":
      writer.tag(VALUE.boolValue, WireType.Varint).bool(json);
      return;
    case "object":
      if (json === null) writer.tag(VALUE.nullValue, WireType.Varint).int32(0);
      else if (Array.isArray(json)) {
        fork(writer, VALUE.listValue);
        for (const item of json) {
          fork(writer, LIST.values);
          writeValueFields(writer, item);
          writer.join();
        }
        writer.join();
      } else {
        fork(writer, VALUE.structValue);
        writeStructFields(writer, json);
        writer.join();
      }
      return;
    // Anything else (undefined, a bigint) becomes a Value with no kind, as in protobuf-es.
  }
}
