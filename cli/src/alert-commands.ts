import {
  AlertChannelKind,
  AlertChannelSchema,
  AlertCondition,
  AlertDeliverySchema,
  AlertDeliveryState,
  AlertRuleSchema,
  type AlertChannel,
  type AlertDelivery,
  type AlertRule,
  type ChimeClient,
} from "@chime/sdk";
import { durationFromMs, parseDuration } from "@chime/sdk/web";
import type { Command } from "commander";
import { ArgumentError } from "./exit-codes.js";
import { enumValues, positiveInteger } from "./job-options.js";
import { enumText, messageJson, printDeleted, printFields, printJson, printTable, timeText, type OutputFormat } from "./output.js";

/** `chime alert`: the AlertService's channels, rules and delivery history. */

/** A duration flag as a protobuf Duration, refused with the flag's name when it is not one. */
export function durationFlag(flag: string, text: string) {
  try {
    return durationFromMs(parseDuration(text));
  } catch {
    throw new ArgumentError(`${flag}: ${JSON.stringify(text)} is not a duration (e.g. 30s, 5m, 1h)`);
  }
}

const CHANNEL_HEADERS = ["ID", "NAMESPACE", "NAME", "KIND", "URL", "CREATED"];
const channelRow = (c: AlertChannel) => [c.id, c.namespace || "default", c.name, enumText(AlertChannelKind, c.kind), c.url, timeText(c.createTime)];

const RULE_HEADERS = ["ID", "NAMESPACE", "NAME", "CONDITION", "WATCHES", "CHANNEL", "AT MOST EVERY"];
/** What a rule watches, in a few words: a job, a queue, a label selector, or all the namespace's jobs. */
function ruleTarget(rule: AlertRule): string {
  if (rule.queue) return `queue ${rule.queue}`;
  const scope = rule.jobId ? `job ${rule.jobId}` : rule.labelSelector ? `jobs ${rule.labelSelector}` : "every job";
  return rule.threshold > 0 ? `${scope} (${rule.threshold} in a row)` : scope;
}
const ruleRow = (r: AlertRule) => [
  r.id,
  r.namespace || "default",
  r.name,
  enumText(AlertCondition, r.condition),
  ruleTarget(r),
  r.channelId,
  r.minInterval ? `${Number(r.minInterval.seconds)}s` : "-",
];

const DELIVERY_HEADERS = ["ID", "CREATED", "RULE", "STATE", "EVENTS", "ATTEMPTS", "SENT", "LAST ERROR"];
const deliveryRow = (d: AlertDelivery) => [
  d.id,
  timeText(d.createTime),
  d.ruleId,
  enumText(AlertDeliveryState, d.state),
  String(d.eventCount),
  String(d.attempts),
  timeText(d.sentTime),
  d.lastError,
];

function printOne(headers: string[], row: string[], extra: Array<[string, string]> = []): void {
  printFields([...headers.map((header, i): [string, string] => [header.toLowerCase(), row[i] ?? ""]), ...extra]);
}

function requiredId(id: string): string {
  if (id.trim() === "") throw new ArgumentError("id: required");
  return id;
}

export function addAlertCommand(program: Command, connect: () => ChimeClient, output: () => OutputFormat): void {
  const alert = program.command("alert").description("notification channels, alert rules and their delivery history");

  const channel = alert.command("channel").description("where notifications go: signed webhooks and Slack incoming webhooks");
  channel
    .command("create")
    .description("create a channel; a webhook's signing secret is printed this once")
    .requiredOption("--name <name>", "unique within the namespace")
    .requiredOption("--kind <kind>", "webhook or slack")
    .requiredOption("--url <url>", "http(s) URL the notifications are POSTed to")
    .option("--namespace <namespace>", "the channel's namespace (default: default)", "")
    .option("--secret <secret>", "the webhook signing secret (default: generated)")
    .action(async (flags: { name: string; kind: string; url: string; namespace: string; secret?: string }) => {
      const [kind] = enumValues("--kind", [flags.kind], AlertChannelKind);
      const { channel: created } = await connect().alertService.createAlertChannel({
        channel: { name: flags.name, kind, url: flags.url, namespace: flags.namespace, secret: flags.secret ?? "" },
      });
      if (output() === "json") return printJson(messageJson(AlertChannelSchema, created!));
      const secret: Array<[string, string]> = created!.secret ? [["secret", `${created!.secret}  (shown this once: keep it now)`]] : [];
      printOne(CHANNEL_HEADERS, channelRow(created!), secret);
    });
  channel
    .command("list")
    .description("list channels (never their secrets)")
    .option("--namespace <namespace>", "only this namespace's", "")
    .action(async (flags: { namespace: string }) => {
      const { channels } = await connect().alertService.listAlertChannels({ namespace: flags.namespace });
      if (output() === "json") printJson(channels.map((c) => messageJson(AlertChannelSchema, c)));
      else printTable(CHANNEL_HEADERS, channels.map(channelRow));
    });
  channel
    .command("delete <id>")
    .description("delete a channel and the rules that notify it")
    .action(async (id: string) => {
      await connect().alertService.deleteAlertChannel({ id: requiredId(id) });
      printDeleted(id, output());
    });

  const rule = alert.command("rule").description("what notifies which channel");
  rule
    .command("create")
    .description("create a rule")
    .requiredOption("--name <name>", "unique within the namespace")
    .requiredOption("--channel <id>", "the channel to notify (of the same namespace)")
    .requiredOption(
      "--on <condition>",
      "run_failed, run_ended, consecutive_failures, job_auto_paused, queue_stalled, fire_missed or fire_late",
    )
    .option("--namespace <namespace>", "the namespace whose jobs it watches (default: default)", "")
    .option("--job <id>", "only this job")
    .option("--selector <labels>", 'only jobs whose labels match, e.g. "env=prod"')
    .option("--threshold <n>", "consecutive_failures: the streak length (2 to 1000)")
    .option("--queue <queue>", "queue_stalled: the queue it watches")
    .option("--stall-after <duration>", "queue_stalled: how long runs wait with no worker before it notifies (e.g. 5m)")
    .option("--min-interval <duration>", "at most one notification per this interval (default 60s); a storm is one with a count")
    .action(
      async (flags: {
        name: string;
        channel: string;
        on: string;
        namespace: string;
        job?: string;
        selector?: string;
        threshold?: string;
        queue?: string;
        stallAfter?: string;
        minInterval?: string;
      }) => {
        const [condition] = enumValues("--on", [flags.on], AlertCondition);
        const { rule: created } = await connect().alertService.createAlertRule({
          rule: {
            name: flags.name,
            channelId: flags.channel,
            condition,
            namespace: flags.namespace,
            jobId: flags.job ?? "",
            labelSelector: flags.selector ?? "",
            queue: flags.queue ?? "",
            threshold: flags.threshold === undefined ? 0 : positiveInteger("--threshold", flags.threshold),
            ...(flags.stallAfter === undefined ? {} : { stallAfter: durationFlag("--stall-after", flags.stallAfter) }),
            ...(flags.minInterval === undefined ? {} : { minInterval: durationFlag("--min-interval", flags.minInterval) }),
          },
        });
        if (output() === "json") printJson(messageJson(AlertRuleSchema, created!));
        else printOne(RULE_HEADERS, ruleRow(created!));
      },
    );
  rule
    .command("list")
    .description("list rules, by namespace and name")
    .option("--namespace <namespace>", "only this namespace's", "")
    .action(async (flags: { namespace: string }) => {
      const { rules } = await connect().alertService.listAlertRules({ namespace: flags.namespace });
      if (output() === "json") printJson(rules.map((r) => messageJson(AlertRuleSchema, r)));
      else printTable(RULE_HEADERS, rules.map(ruleRow));
    });
  rule
    .command("delete <id>")
    .description("delete a rule (its history stays)")
    .action(async (id: string) => {
      await connect().alertService.deleteAlertRule({ id: requiredId(id) });
      printDeleted(id, output());
    });

  alert
    .command("deliveries")
    .description("the notifications raised and how sending them went, newest first")
    .option("--rule <id>", "only this rule's")
    .option("--namespace <namespace>", "only this namespace's rules'", "")
    .option("--limit <n>", "at most this many (up to 1000)", "100")
    .action(async (flags: { rule?: string; namespace: string; limit: string }) => {
      const limit = positiveInteger("--limit", flags.limit);
      if (limit > 1000) throw new ArgumentError(`--limit: ${limit} is more than 1000`);
      const { deliveries } = await connect().alertService.listAlertDeliveries({ ruleId: flags.rule ?? "", namespace: flags.namespace, pageSize: limit });
      if (output() === "json") printJson(deliveries.map((d) => messageJson(AlertDeliverySchema, d)));
      else printTable(DELIVERY_HEADERS, deliveries.map(deliveryRow));
    });
}
