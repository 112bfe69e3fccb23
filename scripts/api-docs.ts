/**
 * Writes docs/api.md, the API reference, from the contract: the proto files' descriptors
 * and their comments (`buf build` keeps the source info), so the reference says what the
 * proto says. `npm run generate` runs it; `npm run check:generated` fails when the
 * committed file is stale. Usage: node --import tsx scripts/api-docs.ts <image.binpb> <out.md>
 */
import { readFileSync, writeFileSync } from "node:fs";
import { fromBinary, isFieldSet } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  FieldDescriptorProtoSchema,
  FileDescriptorSetSchema,
  type DescriptorProto,
  type EnumDescriptorProto,
  type FieldDescriptorProto,
  type FileDescriptorProto,
} from "@bufbuild/protobuf/wkt";

// Field numbers in descriptor.proto, which source-info paths are made of.
const FILE_MESSAGE = 4;
const FILE_ENUM = 5;
const FILE_SERVICE = 6;
const MESSAGE_FIELD = 2;
const MESSAGE_NESTED = 3;
const MESSAGE_ENUM = 4;
const ENUM_VALUE = 2;
const SERVICE_METHOD = 2;

const [imagePath, outPath] = process.argv.slice(2);
if (!imagePath || !outPath) throw new Error("usage: api-docs.ts <image.binpb> <out.md>");
const image = fromBinary(FileDescriptorSetSchema, readFileSync(imagePath));
const files = image.file.filter((f) => f.package === "chime.v1").sort((a, b) => a.name.localeCompare(b.name));

/** A file's comments by source-info path. */
function commentsOf(file: FileDescriptorProto): Map<string, string> {
  const comments = new Map<string, string>();
  for (const location of file.sourceCodeInfo?.location ?? []) {
    const text = (location.leadingComments || location.trailingComments).trim();
    if (text) comments.set(location.path.join("."), text.replace(/\s*\n\s*/g, " "));
  }
  return comments;
}

/** Markdown table cell text: pipes escaped, no line breaks. */
const cell = (text: string) => text.replace(/\|/g, "\\|");
const anchor = (name: string) => name.toLowerCase().replace(/[^a-z0-9]+/g, "-");
const typeLink = (typeName: string) => {
  const short = typeName.replace(/^\./, "");
  return short.startsWith("chime.v1.") ? `[${short.slice("chime.v1.".length)}](#${anchor(short.slice("chime.v1.".length))})` : `\`${short}\``;
};

function fieldType(field: FieldDescriptorProto): string {
  const base =
    field.type === FieldDescriptorProto_Type.MESSAGE || field.type === FieldDescriptorProto_Type.ENUM
      ? typeLink(field.typeName)
      : `\`${FieldDescriptorProto_Type[field.type].toLowerCase()}\``;
  return field.label === FieldDescriptorProto_Label.REPEATED ? `repeated ${base}` : base;
}

const out: string[] = [
  "# API reference",
  "",
  "Generated from `proto/chime/v1` by `scripts/api-docs.ts` (`npm run generate`); do not edit by hand.",
  "Every RPC is served over gRPC (port 8080) and Connect / gRPC-Web (port 8081).",
  "",
];

function writeEnum(e: EnumDescriptorProto, name: string, path: string, comments: Map<string, string>) {
  out.push(`### ${name}`, "", ...(comments.get(path) ? [comments.get(path)!, ""] : []), "| Value | Number | Meaning |", "| --- | --- | --- |");
  e.value.forEach((v, i) => out.push(`| \`${v.name}\` | ${v.number} | ${cell(comments.get(`${path}.${ENUM_VALUE}.${i}`) ?? "")} |`));
  out.push("");
}

function writeMessage(m: DescriptorProto, name: string, path: string, comments: Map<string, string>) {
  if (m.options?.mapEntry) return;
  out.push(`### ${name}`, "", ...(comments.get(path) ? [comments.get(path)!, ""] : []));
  if (m.field.length) {
    out.push("| Field | Number | Type | Meaning |", "| --- | --- | --- | --- |");
    m.field.forEach((f, i) => {
      // descriptor.proto is proto2: presence, not a zero value, says a field is in a oneof.
      const oneof = isFieldSet(f, FieldDescriptorProtoSchema.field.oneofIndex) && !f.proto3Optional ? ` (one of \`${m.oneofDecl[f.oneofIndex].name}\`)` : "";
      out.push(`| \`${f.name}\` | ${f.number} | ${fieldType(f)} | ${cell((comments.get(`${path}.${MESSAGE_FIELD}.${i}`) ?? "") + oneof)} |`);
    });
    out.push("");
  } else {
    out.push("No fields.", "");
  }
  m.nestedType.forEach((n, i) => writeMessage(n, `${name}.${n.name}`, `${path}.${MESSAGE_NESTED}.${i}`, comments));
  m.enumType.forEach((e, i) => writeEnum(e, `${name}.${e.name}`, `${path}.${MESSAGE_ENUM}.${i}`, comments));
}

for (const file of files) {
  const comments = commentsOf(file);
  out.push(`## ${file.name}`, "");
  file.service.forEach((service, s) => {
    const path = `${FILE_SERVICE}.${s}`;
    out.push(`### ${service.name}`, "", ...(comments.get(path) ? [comments.get(path)!, ""] : []), "| RPC | Request | Response | What it does |", "| --- | --- | --- | --- |");
    service.method.forEach((method, i) => {
      const stream = method.serverStreaming ? "stream " : "";
      out.push(`| \`${method.name}\` | ${typeLink(method.inputType)} | ${stream}${typeLink(method.outputType)} | ${cell(comments.get(`${path}.${SERVICE_METHOD}.${i}`) ?? "")} |`);
    });
    out.push("");
  });
  file.messageType.forEach((m, i) => writeMessage(m, m.name, `${FILE_MESSAGE}.${i}`, comments));
  file.enumType.forEach((e, i) => writeEnum(e, e.name, `${FILE_ENUM}.${i}`, comments));
}

writeFileSync(outPath, out.join("\n").replace(/\n+$/, "\n"));
