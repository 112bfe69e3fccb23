import { AlertChannelKind, AlertCondition, type AlertChannel, type AlertRule } from "@chime/sdk/gen/alert_service_pb";
import { durationToMs } from "../util/time.js";
import { FieldViolations, invalidArgument, isId } from "../api/errors.js";
import { DEFAULT_NAMESPACE, QUEUE_PATTERN } from "../jobs/job-validation.js";
import { parseLabelSelector } from "../api/label-selector.js";
import type { RuleRow } from "./alert-store.js";

const NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$/;
const DEFAULT_MIN_INTERVAL_MS = 60_000;
const DEFAULT_PAGE_SIZE = 100;
const CONDITIONS = [
  AlertCondition.RUN_FAILED,
  AlertCondition.RUN_ENDED,
  AlertCondition.CONSECUTIVE_FAILURES,
  AlertCondition.JOB_AUTO_PAUSED,
  AlertCondition.QUEUE_STALLED,
  AlertCondition.FIRE_MISSED,
  AlertCondition.FIRE_LATE,
];
const MAX_PAGE_SIZE = 1000;

function checkNamespaceAndName(v: FieldViolations, field: string, namespace: string, name: string): void {
  if (!QUEUE_PATTERN.test(namespace)) v.add(`${field}.namespace`, "expected 1-64 letters, digits, _ or -");
  if (!name) v.add(`${field}.name`, "is required");
  else if (!NAME_PATTERN.test(name)) v.add(`${field}.name`, "expected 1-200 letters, digits or . _ : / - (starting with a letter or digit)");
}

/** A channel to store: namespace defaulted, kind known, URL http(s), secret at most 256 characters. */
export function validateChannel(input: AlertChannel | undefined) {
  if (!input) throw invalidArgument("channel: is required");
  const v = new FieldViolations();
  const namespace = input.namespace || DEFAULT_NAMESPACE;
  checkNamespaceAndName(v, "channel", namespace, input.name);
  if (input.kind !== AlertChannelKind.WEBHOOK && input.kind !== AlertChannelKind.SLACK) v.add("channel.kind", "expected ALERT_CHANNEL_KIND_WEBHOOK or ALERT_CHANNEL_KIND_SLACK");
  let url: URL | undefined;
  try {
    url = new URL(input.url);
  } catch {
    v.add("channel.url", "is not an absolute URL");
  }
  if (url && url.protocol !== "http:" && url.protocol !== "https:") v.add("channel.url", "expected an http or https URL");
  if (url && (url.username || url.password)) v.add("channel.url", "must not carry credentials (use the signing secret)");
  if (input.url.length > 2048) v.add("channel.url", "is longer than 2048 characters");
  if (input.secret.length > 256) v.add("channel.secret", "is longer than 256 characters");
  if (input.id) v.add("channel.id", "is assigned by the server; leave it empty");
  v.throwIfAny();
  return { namespace, name: input.name, kind: input.kind, url: input.url, secret: input.secret };
}

/** A rule to store: condition known, threshold within bounds, interval at least a second. */
export function validateRule(input: AlertRule | undefined): Omit<RuleRow, "id" | "create_time"> {
  if (!input) throw invalidArgument("rule: is required");
  const v = new FieldViolations();
  const namespace = input.namespace || DEFAULT_NAMESPACE;
  checkNamespaceAndName(v, "rule", namespace, input.name);
  if (!input.channelId) v.add("rule.channel_id", "is required");
  if (!CONDITIONS.includes(input.condition)) v.add("rule.condition", `expected ${CONDITIONS.map((c) => `ALERT_CONDITION_${AlertCondition[c]}`).join(", ")}`);
  const stallAfterMs = checkQueueStall(v, input);
  if (input.condition === AlertCondition.CONSECUTIVE_FAILURES && !(input.threshold >= 2 && input.threshold <= 1000)) {
    v.add("rule.threshold", "expected 2 to 1000 for CONSECUTIVE_FAILURES");
  } else if (input.condition !== AlertCondition.CONSECUTIVE_FAILURES && input.threshold !== 0) {
    v.add("rule.threshold", "is only for ALERT_CONDITION_CONSECUTIVE_FAILURES");
  }
  const minIntervalMs = input.minInterval ? durationToMs(input.minInterval) : DEFAULT_MIN_INTERVAL_MS;
  if (!(minIntervalMs >= 1000 && minIntervalMs <= 86_400_000)) v.add("rule.min_interval", "expected 1s to 24h");
  for (const [field, value] of [["rule.channel_id", input.channelId], ["rule.job_id", input.jobId]] as const) {
    if (value && !isId(value)) v.add(field, `${JSON.stringify(value.slice(0, 64))} is not a valid id`);
  }
  if (input.id) v.add("rule.id", "is assigned by the server; leave it empty");
  v.throwIfAny();
  // Throws INVALID_ARGUMENT naming rule.label_selector and the bad term.
  parseLabelSelector(input.labelSelector, "rule.label_selector");
  return {
    namespace,
    name: input.name,
    channel_id: input.channelId,
    condition: input.condition,
    job_id: input.jobId || null,
    label_selector: input.labelSelector,
    threshold: input.threshold,
    min_interval_ms: minIntervalMs,
    stall_after_ms: stallAfterMs,
    queue: input.queue,
  };
}

/**
 * QUEUE_STALLED's own fields: a queue and a stall_after of 1 s to 24 h, and no job or label
 * scope (a queue is not a job's); both fields refused on any other condition. Returns stall_after in ms.
 */
function checkQueueStall(v: FieldViolations, input: AlertRule): number {
  const stallAfterMs = input.stallAfter ? durationToMs(input.stallAfter) : 0;
  if (input.condition !== AlertCondition.QUEUE_STALLED) {
    if (input.stallAfter) v.add("rule.stall_after", "is only for ALERT_CONDITION_QUEUE_STALLED");
    if (input.queue) v.add("rule.queue", "is only for ALERT_CONDITION_QUEUE_STALLED");
    return 0;
  }
  if (!(stallAfterMs >= 1000 && stallAfterMs <= 86_400_000)) v.add("rule.stall_after", "expected 1s to 24h for QUEUE_STALLED");
  if (!QUEUE_PATTERN.test(input.queue)) v.add("rule.queue", "expected 1-64 letters, digits, _ or - for QUEUE_STALLED");
  if (input.jobId) v.add("rule.job_id", "must be empty for QUEUE_STALLED (it watches a queue)");
  if (input.labelSelector) v.add("rule.label_selector", "must be empty for QUEUE_STALLED (it watches a queue)");
  return stallAfterMs;
}

export function validatePageSize(pageSize: number): number {
  if (pageSize < 0 || pageSize > MAX_PAGE_SIZE) throw invalidArgument(`page_size: expected 0 to ${MAX_PAGE_SIZE}`);
  return pageSize || DEFAULT_PAGE_SIZE;
}
