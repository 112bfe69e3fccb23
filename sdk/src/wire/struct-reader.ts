/**
 * Reads a google.protobuf.Struct straight into the JsonObject the generated types hold,
 * exactly as protobuf-es's fromBinary does through its Struct, Value and ListValue messages
 * (reflect.js wktStructToLocal turns those into JSON): a map entry's key defaults to "" and
 * its Value to null; a key "__proto__" is kept as an own key, never as a prototype;
 * a Value whose kind appears twice keeps the last, and merges two structs or two lists;
 * unknown fields are skipped; the nesting limit is fromBinary's.
 */
import { ListValueSchema, StructSchema, ValueSchema } from "@bufbuild/protobuf/wkt";
import { BinaryReader, type WireType } from "@bufbuild/protobuf/wire";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { fieldNumbers, RECURSION_LIMIT, setOwn } from "./fields.js";

const STRUCT = fieldNumbers(StructSchema);
const VALUE = fieldNumbers(ValueSchema);
const LIST = fieldNumbers(ListValueSchema);
const UTF8 = StructSchema.field.fields.utf8Validation;

function enter(depth: number): void {
  if (depth > RECURSION_LIMIT) throw new Error(`cannot decode google.protobuf.Struct from binary: maximum recursion depth of ${RECURSION_LIMIT} reached`);
}

const skip = (r: BinaryReader, no: number, wireType: WireType, depth: number) => r.skip(wireType, no, RECURSION_LIMIT - depth);

/** Reads a Struct of `length` bytes at `depth` into `into` (a later occurrence merges into an earlier one). */
export function readStruct(r: BinaryReader, length: number, depth: number, into: JsonObject): JsonObject {
  enter(depth);
  const end = r.pos + length;
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    if (no !== STRUCT.fields) {
      skip(r, no, wireType, depth);
      continue;
    }
    const entryEnd = r.uint32() + r.pos;
    let key = "";
    let value: JsonValue = null;
    while (r.pos < entryEnd) {
      const [entryNo] = r.tag();
      // As in protobuf-es, a map entry's other fields are not skipped.
      if (entryNo === 1) key = r.string(UTF8);
      else if (entryNo === 2) value = readValue(r, r.uint32(), depth + 1);
    }
    setOwn(into, key, value);
  }
  return into;
}

const enum Kind {
  None,
  Struct,
  List,
  Scalar,
}

function readValue(r: BinaryReader, length: number, depth: number): JsonValue {
  enter(depth);
  const end = r.pos + length;
  let kind = Kind.None;
  let value: JsonValue = null;
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    switch (no) {
      case VALUE.nullValue:
        r.int32();
        value = null;
        kind = Kind.Scalar;
        break;
      case VALUE.numberValue:
        value = r.double();
        kind = Kind.Scalar;
        break;
      case VALUE.stringValue:
        value = r.string(UTF8);
        kind = Kind.Scalar;
        break;
      case VALUE.boolValue:
        value = r.bool();
        kind = Kind.Scalar;
        break;
      case VALUE.structValue:
        value = readStruct(r, r.uint32(), depth + 1, kind === Kind.Struct ? (value as JsonObject) : {});
        kind = Kind.Struct;
        break;
      case VALUE.listValue:
        value = readList(r, r.uint32(), depth + 1, kind === Kind.List ? (value as JsonValue[]) : []);
        kind = Kind.List;
        break;
      default:
        skip(r, no, wireType, depth);
    }
  }
  return value;
}

function readList(r: BinaryReader, length: number, depth: number, into: JsonValue[]): JsonValue[] {
  enter(depth);
  const end = r.pos + length;
  while (r.pos < end) {
    const [no, wireType] = r.tag();
    if (no === LIST.values) into.push(readValue(r, r.uint32(), depth + 1));
    else skip(r, no, wireType, depth);
  }
  return into;
}
