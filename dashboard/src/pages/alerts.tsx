import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import {
  AlertChannelKind,
  AlertCondition,
  AlertDeliveryState,
  type AlertChannel,
  type AlertDelivery,
  type AlertRule,
} from "@chime/sdk/gen/alert_service_pb";
import { alerts, errorMessage } from "../api";
import { ConfirmButton, Empty, ErrorNote, TimeCell } from "../components/bits";
import { NewChannelForm, NewRuleForm } from "../components/alert-forms";
import { TableHead } from "../components/table-head";
import { durationMs, durationInWords, toDate } from "../format";
import { useLoad, useNow, useToast } from "../hooks";
import { href } from "../router";
import "../debug-pages.css";

const KIND_NAMES: Record<number, string> = {
  [AlertChannelKind.UNSPECIFIED]: "—",
  [AlertChannelKind.WEBHOOK]: "webhook (signed JSON)",
  [AlertChannelKind.SLACK]: "Slack-compatible",
};

const DELIVERY_STATES: Record<number, [string, string]> = {
  [AlertDeliveryState.UNSPECIFIED]: ["unknown", "muted"],
  [AlertDeliveryState.PENDING]: ["pending", "warn"],
  [AlertDeliveryState.SENT]: ["sent", "ok"],
  [AlertDeliveryState.FAILED]: ["failed", "bad"],
};

/** The server's default min_interval (AlertRule.min_interval). */
const DEFAULT_MIN_INTERVAL_MS = 60_000;

function conditionInWords(rule: AlertRule): string {
  switch (rule.condition) {
    case AlertCondition.RUN_FAILED:
      return "a run failed or timed out after its last attempt";
    case AlertCondition.RUN_ENDED:
      return "a run ended (any outcome)";
    case AlertCondition.CONSECUTIVE_FAILURES:
      return `${rule.threshold} failed runs in a row`;
    case AlertCondition.JOB_AUTO_PAUSED:
      return "a job paused itself after its failure streak (pause_after_failures)";
    case AlertCondition.QUEUE_STALLED:
      return `runs waited with no worker for over ${durationInWords(durationMs(rule.stallAfter) ?? 0)} (and when that ends)`;
    case AlertCondition.FIRE_MISSED:
      return "a job's schedule missed fire times (dropped by its misfire policy)";
    case AlertCondition.FIRE_LATE:
      return "a job fired later than its max_lag";
    default:
      return "—";
  }
}

async function loadAlerts(signal: AbortSignal) {
  const options = { signal, timeoutMs: 10_000 };
  const [channels, rules, deliveries] = await Promise.all([
    alerts.listAlertChannels({}, options),
    alerts.listAlertRules({}, options),
    alerts.listAlertDeliveries({ pageSize: 200 }, options),
  ]);
  return { channels: channels.channels, rules: rules.rules, deliveries: deliveries.deliveries };
}

/** Alert channels, rules, and the history of deliveries (AlertService). */
export function AlertsPage() {
  const now = useNow(1000);
  const data = useLoad(loadAlerts, [], 5000);
  const channels = new Map((data.data?.channels ?? []).map((c) => [c.id, c]));
  const rules = new Map((data.data?.rules ?? []).map((r) => [r.id, r]));
  return (
    <section aria-labelledby="alerts-title">
      <div className="page-head">
        <h1 id="alerts-title">Alerts</h1>
        <p className="muted">Where notifications go, which run outcomes send them, and every delivery. Refreshed every 5 seconds.</p>
      </div>
      <ErrorNote>{data.error && `Cannot load the alerts: ${data.error}`}</ErrorNote>
      {data.loading && !data.data && <p className="muted">Loading…</p>}
      {data.data && (
        <>
          <Channels channels={data.data.channels} now={now} changed={data.reload} />
          <Rules rules={data.data.rules} channels={channels} changed={data.reload} />
          <Deliveries deliveries={data.data.deliveries} rules={rules} channels={channels} now={now} />
        </>
      )}
    </section>
  );
}

/** Deletes through `remove`, then reloads the page's data; a refusal is a toast. */
function useDelete(changed: () => void) {
  const toast = useToast();
  return (what: string, remove: () => Promise<unknown>) => {
    remove().then(
      () => {
        toast(`${what} deleted`);
        changed();
      },
      (error: unknown) => toast(`${what} not deleted: ${errorMessage(error)}`, "error"),
    );
  };
}

function Channels({ channels, now, changed }: { channels: AlertChannel[]; now: number; changed: () => void }) {
  const remove = useDelete(changed);
  return (
    <div className="panel">
      <h2 id="channels-title">Channels</h2>
      <div className="table-wrap">
        <table className="table channels-table" aria-labelledby="channels-title">
          <TableHead columns={["Name", "Namespace", "Kind", "URL", "Created", ""]} />
          <tbody>
            {channels.map((c) => (
              <tr key={c.id} data-channel={c.name}>
                <td>{c.name}</td>
                <td>{c.namespace || "default"}</td>
                <td>{KIND_NAMES[c.kind]}</td>
                <td>
                  <code>{c.url}</code>
                </td>
                <td>
                  <TimeCell date={toDate(c.createTime)} now={now} />
                </td>
                <td>
                  <ConfirmButton label="Delete" confirmLabel={`Delete channel ${c.name} and its rules`} onConfirm={() => remove("Channel", () => alerts.deleteAlertChannel({ id: c.id }))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {channels.length === 0 && <Empty>No channels yet.</Empty>}
      <NewChannelForm onCreated={changed} />
    </div>
  );
}

function Rules({ rules, channels, changed }: { rules: AlertRule[]; channels: Map<string, AlertChannel>; changed: () => void }) {
  const remove = useDelete(changed);
  return (
    <div className="panel">
      <h2 id="rules-title">Rules</h2>
      <div className="table-wrap">
        <table className="table rules-table" aria-labelledby="rules-title">
          <TableHead columns={["Name", "Namespace", "When", "Jobs", "Channel", ["At most one per", "events meanwhile are counted into the next notification"], ""]} />
          <tbody>
            {rules.map((r) => (
              <tr key={r.id} data-rule={r.name}>
                <td>{r.name}</td>
                <td>{r.namespace || "default"}</td>
                <td>{conditionInWords(r)}</td>
                <td>
                  {r.condition === AlertCondition.QUEUE_STALLED ? (
                    <>
                      queue <code>{r.queue}</code>
                    </>
                  ) : r.jobId ? (
                    <a href={href.job(r.jobId)}>one job</a>
                  ) : r.labelSelector ? (
                    <code>{r.labelSelector}</code>
                  ) : (
                    "every job of the namespace"
                  )}
                  {r.jobId && r.labelSelector && (
                    <>
                      {" "}
                      with <code>{r.labelSelector}</code>
                    </>
                  )}
                </td>
                <td>{channels.get(r.channelId)?.name ?? <span className="muted">deleted</span>}</td>
                <td>{durationInWords(durationMs(r.minInterval) ?? DEFAULT_MIN_INTERVAL_MS)}</td>
                <td>
                  <ConfirmButton label="Delete" confirmLabel={`Delete rule ${r.name}`} onConfirm={() => remove("Rule", () => alerts.deleteAlertRule({ id: r.id }))} />
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rules.length === 0 && <Empty>No rules yet.</Empty>}
      <NewRuleForm channels={[...channels.values()]} onCreated={changed} />
    </div>
  );
}

/** A string at `path` of a notification's JSON payload, if there is one. */
function field(payload: JsonObject | undefined, ...path: string[]): string {
  let value: JsonValue | undefined = payload;
  for (const key of path) value = value && typeof value === "object" && !Array.isArray(value) ? value[key] : undefined;
  return typeof value === "string" ? value : "";
}

function Deliveries({ deliveries, rules, channels, now }: { deliveries: AlertDelivery[]; rules: Map<string, AlertRule>; channels: Map<string, AlertChannel>; now: number }) {
  return (
    <div className="panel">
      <div className="panel-head">
        <h2 id="deliveries-title">Deliveries</h2>
        <span className="muted small">newest first · the last 200</span>
      </div>
      <div className="table-wrap">
        <table className="table deliveries-table" aria-labelledby="deliveries-title">
          <TableHead columns={["Created", "Rule", "Channel", "Run", "State", ["Events", "run outcomes this notification stands for"], "Attempts", "Last error", "Sent or next attempt"]} />
          <tbody>
            {deliveries.map((d) => {
              const [stateName, tone] = DELIVERY_STATES[d.state];
              const runId = field(d.payload, "run", "id");
              return (
                <tr key={d.id} data-delivery={d.id} data-rule={rules.get(d.ruleId)?.name ?? d.ruleId}>
                  <td>
                    <TimeCell date={toDate(d.createTime)} now={now} />
                  </td>
                  <td>{rules.get(d.ruleId)?.name ?? <span className="muted">deleted</span>}</td>
                  <td>{channels.get(d.channelId)?.name ?? <span className="muted">deleted</span>}</td>
                  <td>
                    {runId ? (
                      <a href={href.run(runId)}>
                        {field(d.payload, "job", "name") || "run"} <span className="muted small">{field(d.payload, "run", "state").toLowerCase().replace("_", " ")}</span>
                      </a>
                    ) : (
                      <span className="muted">—</span>
                    )}
                  </td>
                  <td>
                    <span className={`badge ${tone}`}>{stateName}</span>
                  </td>
                  <td className="num" data-col="events">{d.eventCount}</td>
                  <td className="num" data-col="attempts">{d.attempts}</td>
                  <td className="error-cell" data-col="last-error">{d.lastError || <span className="muted">—</span>}</td>
                  <td>
                    {d.state === AlertDeliveryState.SENT ? (
                      <TimeCell date={toDate(d.sentTime)} now={now} />
                    ) : d.state === AlertDeliveryState.PENDING ? (
                      <TimeCell date={toDate(d.nextAttemptTime)} now={now} />
                    ) : (
                      <span className="muted">given up</span>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {deliveries.length === 0 && <Empty>No notifications yet.</Empty>}
    </div>
  );
}
