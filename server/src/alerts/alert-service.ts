import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, type ServiceImpl } from "@connectrpc/connect";
import {
  AlertChannelSchema,
  AlertDeliverySchema,
  AlertRuleSchema,
  type AlertService,
} from "@chime/sdk/gen/alert_service_pb";
import type pg from "pg";
import { alreadyExists, notFound, requireId } from "../api/errors.js";
import { msToDuration, optionalTimestamp, toTimestamp } from "../util/time.js";
import { validateChannel, validatePageSize, validateRule } from "./alert-validation.js";
import { checkNamespaceFilter } from "../jobs/job-validation.js";
import {
  deleteChannel,
  deleteRule,
  getChannel,
  insertChannel,
  jobInNamespace,
  insertRule,
  listChannels,
  listDeliveries,
  listRules,
  type ChannelRow,
  type DeliveryRow,
  type RuleRow,
} from "./alert-store.js";

const channelMessage = (row: ChannelRow, withSecret: boolean) =>
  create(AlertChannelSchema, {
    id: row.id,
    namespace: row.namespace,
    name: row.name,
    kind: row.kind,
    url: row.url,
    secret: withSecret ? row.secret : "",
    createTime: toTimestamp(row.create_time),
  });

const ruleMessage = (row: RuleRow) =>
  create(AlertRuleSchema, {
    id: row.id,
    namespace: row.namespace,
    name: row.name,
    channelId: row.channel_id,
    condition: row.condition,
    jobId: row.job_id ?? "",
    labelSelector: row.label_selector,
    threshold: row.threshold,
    minInterval: msToDuration(row.min_interval_ms),
    stallAfter: row.stall_after_ms ? msToDuration(row.stall_after_ms) : undefined,
    queue: row.queue,
    createTime: toTimestamp(row.create_time),
  });

const deliveryMessage = (row: DeliveryRow) =>
  create(AlertDeliverySchema, {
    id: row.id,
    ruleId: row.rule_id,
    channelId: row.channel_id,
    state: row.state,
    eventCount: row.event_count,
    payload: { ...row.payload, delivery_id: row.id } as never,
    attempts: row.attempts,
    lastError: row.last_error,
    createTime: toTimestamp(row.create_time),
    nextAttemptTime: toTimestamp(row.next_attempt_time),
    sentTime: optionalTimestamp(row.sent_time),
  });

export function createAlertService(pool: pg.Pool): ServiceImpl<typeof AlertService> {
  return {
    async createAlertChannel(request) {
      const channel = validateChannel(request.channel);
      const row = await insertChannel(pool, channel);
      if (!row) throw alreadyExists(`channel.name: an alert channel named ${JSON.stringify(channel.name)} already exists in namespace ${JSON.stringify(channel.namespace)}`);
      return { channel: channelMessage(row, true) };
    },
    async listAlertChannels(request) {
      checkNamespaceFilter(request.namespace);
      return { channels: (await listChannels(pool, request.namespace)).map((row) => channelMessage(row, false)) };
    },
    async deleteAlertChannel(request) {
      if (!(await deleteChannel(pool, requireId("id", request.id)))) throw notFound("alert channel", request.id);
      return {};
    },
    async createAlertRule(request) {
      const rule = validateRule(request.rule);
      // A channel or job of another namespace is NOT_FOUND, as one that does not exist: a
      // rule cannot reach past its namespace (and, to a key of one namespace, that one's
      // channels and jobs do not exist).
      const channel = await getChannel(pool, rule.channel_id);
      if (!channel || channel.namespace !== rule.namespace) {
        throw new ConnectError(`rule.channel_id: no alert channel ${JSON.stringify(rule.channel_id)} in namespace ${JSON.stringify(rule.namespace)}`, Code.NotFound);
      }
      if (rule.job_id && !(await jobInNamespace(pool, rule.job_id, rule.namespace))) {
        throw new ConnectError(`rule.job_id: no job ${JSON.stringify(rule.job_id)} in namespace ${JSON.stringify(rule.namespace)}`, Code.NotFound);
      }
      const row = await insertRule(pool, rule);
      if (!row) throw alreadyExists(`rule.name: an alert rule named ${JSON.stringify(rule.name)} already exists in namespace ${JSON.stringify(rule.namespace)}`);
      return { rule: ruleMessage(row) };
    },
    async listAlertRules(request) {
      checkNamespaceFilter(request.namespace);
      return { rules: (await listRules(pool, request.namespace)).map(ruleMessage) };
    },
    async deleteAlertRule(request) {
      if (!(await deleteRule(pool, requireId("id", request.id)))) throw notFound("alert rule", request.id);
      return {};
    },
    async listAlertDeliveries(request) {
      const ruleId = request.ruleId ? requireId("rule_id", request.ruleId) : "";
      checkNamespaceFilter(request.namespace);
      return { deliveries: (await listDeliveries(pool, ruleId, request.namespace, validatePageSize(request.pageSize))).map(deliveryMessage) };
    },
  };
}
