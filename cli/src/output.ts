import { toJson, type DescMessage, type MessageShape } from "@bufbuild/protobuf";
import { timestampDate, type Timestamp } from "@bufbuild/protobuf/wkt";

export type OutputFormat = "table" | "json";

/**
 * JSON output is the proto3 JSON mapping of the messages (camelCase fields, enum names,
 * RFC 3339 times): the contract's own, so it stays stable for scripts as the CLI changes.
 */
export function messageJson<Desc extends DescMessage>(schema: Desc, message: MessageShape<Desc>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: true });
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** One column a row: values padded to the widest, a header line on top. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((cell, i) => (i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join("  ").trimEnd();
  process.stdout.write([line(headers), ...rows.map(line)].join("\n") + "\n");
}

/** Field: value lines, for one object. */
export function printFields(fields: Array<[string, string]>): void {
  const width = Math.max(...fields.map(([name]) => name.length));
  process.stdout.write(fields.map(([name, value]) => `${`${name}:`.padEnd(width + 1)} ${value}`).join("\n") + "\n");
}

export function timeText(ts: Timestamp | undefined): string {
  return ts ? timestampDate(ts).toISOString() : "-";
}

/** "ACTIVE" for JobState.ACTIVE: the enum's name without its prefix. */
export function enumText(names: Record<number, string>, value: number): string {
  return names[value] ?? String(value);
}

/** What a delete prints: `{ id, deleted: true }` as JSON, or a line. */
export function printDeleted(id: string, format: OutputFormat): void {
  if (format === "json") printJson({ id, deleted: true });
  else process.stdout.write(`deleted ${id}\n`);
}
