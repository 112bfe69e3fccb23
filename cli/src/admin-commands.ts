import { ApiKeyRole, ApiKeySchema, AuditEntrySchema, type ApiKey, type ChimeClient } from "@chime/sdk";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { parseDuration } from "@chime/sdk/web";
import type { Command } from "commander";
import { ArgumentError } from "./exit-codes.js";
import { enumValues, positiveInteger } from "./job-options.js";
import { enumText, messageJson, printFields, printJson, printTable, timeText, type OutputFormat } from "./output.js";

/** `chime key` and `chime audit`: the AdminService's API keys and audit log. */

/** --expires: an ISO 8601 time, or a duration from now such as 30d or 12h. */
export function expiryTime(text: string, now = new Date()): Date {
  const at = /^\d{4}-/.test(text) ? new Date(text) : undefined;
  if (at) {
    if (Number.isNaN(at.getTime())) throw new ArgumentError(`--expires: ${JSON.stringify(text)} is not an ISO 8601 time`);
    return at;
  }
  try {
    return new Date(now.getTime() + parseDuration(text));
  } catch {
    throw new ArgumentError(`--expires: ${JSON.stringify(text)} is neither an ISO 8601 time nor a duration such as 30d or 12h`);
  }
}

const KEY_HEADERS = ["ID", "NAME", "NAMESPACE", "ROLE", "CREATED", "EXPIRES", "REVOKED"];
const keyRow = (key: ApiKey) => [
  key.id,
  key.name,
  key.namespace || "*",
  enumText(ApiKeyRole, key.role),
  timeText(key.createTime),
  timeText(key.expireTime),
  timeText(key.revokeTime),
];

function printKey(key: ApiKey, format: OutputFormat, secret?: string): void {
  if (format === "json") return printJson({ ...(messageJson(ApiKeySchema, key) as object), ...(secret === undefined ? {} : { secret }) });
  const row = keyRow(key);
  printFields([
    ...KEY_HEADERS.map((header, i): [string, string] => [header.toLowerCase(), row[i] ?? ""]),
    ...(secret === undefined ? [] : [["secret", `${secret}  (shown this once: keep it now)`] as [string, string]]),
  ]);
}

/** Adds `key` to the program (as its own subcommand, so it inherits the program's settings such as exitOverride). */
export function addKeyCommand(program: Command, connect: () => ChimeClient, output: () => OutputFormat): void {
  const key = program.command("key").description("create, list and revoke API keys (admin role)");
  key
    .command("create")
    .description("create an API key; its secret is printed this once")
    .requiredOption("--role <role>", "reader, writer or admin")
    .option("--namespace <namespace>", "the namespace it may see and change (default: all, for an all-namespaces admin)", "")
    .option("--name <name>", "who holds it, what for (default: the namespace and role)")
    .option("--expires <when>", "ISO 8601 time or a duration from now (30d, 12h); default: never")
    .action(async (flags: { role: string; namespace: string; name?: string; expires?: string }) => {
      const [role] = enumValues("--role", [flags.role], ApiKeyRole);
      const expireTime = flags.expires === undefined ? undefined : timestampFromDate(expiryTime(flags.expires));
      const { apiKey, secret } = await connect().adminService.createApiKey({
        name: flags.name ?? `${flags.namespace || "all"} ${flags.role.toLowerCase()}`,
        namespace: flags.namespace,
        role,
        ...(expireTime ? { expireTime } : {}),
      });
      printKey(apiKey!, output(), secret);
    });
  key
    .command("list")
    .description("list the keys of the namespaces you manage, newest first (never their secrets)")
    .option("--namespace <namespace>", "only this namespace's keys", "")
    .option("--all", "also revoked keys")
    .action(async (flags: { namespace: string; all?: boolean }) => {
      const { apiKeys } = await connect().adminService.listApiKeys({ namespace: flags.namespace, includeRevoked: flags.all === true });
      if (output() === "json") printJson(apiKeys.map((k) => messageJson(ApiKeySchema, k)));
      else printTable(KEY_HEADERS, apiKeys.map(keyRow));
    });
  key
    .command("revoke <id>")
    .description("revoke a key at once")
    .action(async (id: string) => {
      if (id.trim() === "") throw new ArgumentError("id: required");
      printKey((await connect().adminService.revokeApiKey({ id })).apiKey!, output());
    });
}

export function addAuditCommand(program: Command, connect: () => ChimeClient, output: () => OutputFormat): void {
  const audit = program.command("audit").description("read the audit log (admin role)");
  audit
    .command("list")
    .description("changes made through the API, newest first")
    .option("--namespace <namespace>", "only this namespace's", "")
    .option("--limit <n>", "at most this many", "100")
    .action(async (flags: { namespace: string; limit: string }) => {
      const limit = positiveInteger("--limit", flags.limit);
      const chime = connect();
      const entries = [];
      let pageToken = "";
      do {
        const page = await chime.adminService.listAuditEntries({ namespace: flags.namespace, pageSize: Math.min(limit - entries.length, 1000), pageToken });
        entries.push(...page.entries);
        pageToken = page.nextPageToken;
      } while (pageToken !== "" && entries.length < limit);
      if (output() === "json") return printJson(entries.slice(0, limit).map((e) => messageJson(AuditEntrySchema, e)));
      printTable(
        ["ID", "TIME", "ACTION", "TARGET", "NAMESPACE", "KEY", "ADDRESS"],
        entries.slice(0, limit).map((e) => [String(e.id), timeText(e.time), e.action, e.target, e.namespace || "-", e.keyName || e.keyId || "-", e.address]),
      );
    });
}
