import { useState, type FormEvent, type ReactNode } from "react";
import { AlertChannelKind, AlertCondition, type AlertChannel } from "@chime/sdk/gen/alert_service_pb";
import { durationFromMs } from "@chime/sdk/web";
import { alerts, errorMessage, fieldErrors } from "../api";
import { parseDurationText } from "../format";
import { useToast } from "../hooks";

/**
 * The alerts page's forms: a new channel (its webhook secret shown once, as the API returns
 * it once) and a new rule. The server validates (its INVALID_ARGUMENT names the field, shown
 * under the form); the forms only parse durations, which the API takes as Durations.
 */

/** Problems of one submit: the server's field paths ("rule.threshold") or the form's own. */
function Problems({ problems }: { problems: string[] }) {
  if (problems.length === 0) return null;
  return (
    <div className="error-summary" role="alert">
      <strong>Not created.</strong>
      <ul>
        {problems.map((p) => (
          <li key={p}>{p}</li>
        ))}
      </ul>
    </div>
  );
}

function problemsOf(error: unknown): string[] {
  const byField = fieldErrors(error);
  if (!byField) return [errorMessage(error)];
  return Object.entries(byField).flatMap(([field, list]) => list.map((p) => (field ? `${field}: ${p}` : p)));
}

function Field({ id, label, children, hint }: { id: string; label: string; children: ReactNode; hint?: ReactNode }) {
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children}
      {hint && <p className="hint">{hint}</p>}
    </div>
  );
}

/** Submits `create`, showing its problems, a toast on success, then `onCreated`. */
function useSubmit(what: string, onCreated: () => void) {
  const toast = useToast();
  const [problems, setProblems] = useState<string[]>([]);
  const [saving, setSaving] = useState(false);
  const submit = async (event: FormEvent, create: () => Promise<void>) => {
    event.preventDefault();
    setSaving(true);
    try {
      await create();
      setProblems([]);
      toast(`${what} created`);
      onCreated();
    } catch (error) {
      setProblems(problemsOf(error));
    } finally {
      setSaving(false);
    }
  };
  return { problems, saving, submit };
}

export function NewChannelForm({ onCreated }: { onCreated: () => void }) {
  const [name, setName] = useState("");
  const [namespace, setNamespace] = useState("");
  const [kind, setKind] = useState(AlertChannelKind.WEBHOOK);
  const [url, setUrl] = useState("");
  const [secret, setSecret] = useState<{ channel: string; secret: string }>();
  const { problems, saving, submit } = useSubmit("Channel", onCreated);
  const create = async () => {
    const { channel } = await alerts.createAlertChannel({ channel: { name, namespace, kind, url } });
    if (channel?.secret) setSecret({ channel: channel.name, secret: channel.secret });
    setName("");
    setUrl("");
  };
  return (
    <details className="new-form" data-form="channel">
      <summary>New channel</summary>
      <Problems problems={problems} />
      <form className="job-form" onSubmit={(e) => void submit(e, create)} noValidate>
        <div className="row">
          <Field id="channel-name" label="Name">
            <input id="channel-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="ops-hook" autoComplete="off" />
          </Field>
          <Field id="channel-namespace" label="Namespace">
            <input id="channel-namespace" value={namespace} onChange={(e) => setNamespace(e.target.value)} placeholder="default" />
          </Field>
          <Field id="channel-kind" label="Kind">
            <select id="channel-kind" value={kind} onChange={(e) => setKind(Number(e.target.value) as AlertChannelKind)}>
              <option value={AlertChannelKind.WEBHOOK}>webhook (signed JSON)</option>
              <option value={AlertChannelKind.SLACK}>Slack-compatible incoming webhook</option>
            </select>
          </Field>
          <Field id="channel-url" label="URL" hint="Private addresses only where the server's CHIME_HTTP_ALLOWLIST allows them.">
            <input id="channel-url" value={url} onChange={(e) => setUrl(e.target.value)} placeholder="https://hooks.example.com/chime" />
          </Field>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={saving}>
            {saving ? "Creating…" : "Create channel"}
          </button>
        </div>
      </form>
      {secret && (
        <p className="secret-once" role="status">
          Signing secret of <strong>{secret.channel}</strong>, shown this once: <code>{secret.secret}</code>
        </p>
      )}
    </details>
  );
}

const CONDITIONS: Array<[AlertCondition, string]> = [
  [AlertCondition.RUN_FAILED, "a run failed or timed out after its last attempt"],
  [AlertCondition.RUN_ENDED, "a run ended (any outcome)"],
  [AlertCondition.CONSECUTIVE_FAILURES, "failed runs in a row"],
  [AlertCondition.JOB_AUTO_PAUSED, "a job paused itself after its failure streak"],
  [AlertCondition.QUEUE_STALLED, "runs waited with no worker"],
  [AlertCondition.FIRE_MISSED, "a schedule missed fire times"],
  [AlertCondition.FIRE_LATE, "a job fired later than its max_lag"],
];

function wholeNumber(label: string, text: string): number {
  const n = Number(text.trim());
  if (text.trim() === "" || !Number.isInteger(n)) throw new Error(`${label}: "${text}" is not a whole number`);
  return n;
}

export function NewRuleForm({ channels, onCreated }: { channels: AlertChannel[]; onCreated: () => void }) {
  const [values, setValues] = useState({ name: "", namespace: "", channelId: "", condition: AlertCondition.RUN_FAILED, jobId: "", labelSelector: "", threshold: "3", queue: "", stallAfter: "5m", minInterval: "" });
  const set = (key: keyof typeof values) => (e: { target: { value: string } }) => setValues((v) => ({ ...v, [key]: key === "condition" ? Number(e.target.value) : e.target.value }));
  const { problems, saving, submit } = useSubmit("Rule", onCreated);
  const stalled = values.condition === AlertCondition.QUEUE_STALLED;
  const streak = values.condition === AlertCondition.CONSECUTIVE_FAILURES;
  const channelId = values.channelId || channels[0]?.id || "";

  const create = async () => {
    const duration = (label: string, text: string) => {
      const ms = parseDurationText(text);
      if (ms === undefined) throw new Error(`${label}: "${text}" is not a duration such as 30s, 5m or 1h`);
      return durationFromMs(ms);
    };
    const rule = {
      name: values.name,
      namespace: values.namespace,
      channelId,
      condition: values.condition,
      jobId: stalled ? "" : values.jobId.trim(),
      labelSelector: stalled ? "" : values.labelSelector.trim(),
      queue: stalled ? values.queue.trim() : "",
      threshold: streak ? wholeNumber("Failures in a row", values.threshold) : 0,
      ...(stalled ? { stallAfter: duration("Stalled for", values.stallAfter) } : {}),
      ...(values.minInterval.trim() ? { minInterval: duration("At most one per", values.minInterval) } : {}),
    };
    await alerts.createAlertRule({ rule });
    setValues((v) => ({ ...v, name: "" }));
  };
  return (
    <details className="new-form" data-form="rule">
      <summary>New rule</summary>
      <Problems problems={problems} />
      <form className="job-form" onSubmit={(e) => void submit(e, create)} noValidate>
        <div className="row">
          <Field id="rule-name" label="Name">
            <input id="rule-name" value={values.name} onChange={set("name")} placeholder="nightly-failed" autoComplete="off" />
          </Field>
          <Field id="rule-namespace" label="Namespace">
            <input id="rule-namespace" value={values.namespace} onChange={set("namespace")} placeholder="default" />
          </Field>
          <Field id="rule-channel" label="Channel">
            <select id="rule-channel" value={channelId} onChange={set("channelId")}>
              {channels.length === 0 && <option value="">no channel yet</option>}
              {channels.map((c) => (
                <option key={c.id} value={c.id}>
                  {c.name} ({c.namespace || "default"})
                </option>
              ))}
            </select>
          </Field>
          <Field id="rule-condition" label="When">
            <select id="rule-condition" value={values.condition} onChange={set("condition")}>
              {CONDITIONS.map(([value, words]) => (
                <option key={value} value={value}>
                  {words}
                </option>
              ))}
            </select>
          </Field>
          {streak && (
            <Field id="rule-threshold" label="Failures in a row">
              <input id="rule-threshold" inputMode="numeric" value={values.threshold} onChange={set("threshold")} />
            </Field>
          )}
          {stalled ? (
            <>
              <Field id="rule-queue" label="Queue">
                <input id="rule-queue" value={values.queue} onChange={set("queue")} placeholder="reports" />
              </Field>
              <Field id="rule-stall-after" label="Stalled for">
                <input id="rule-stall-after" value={values.stallAfter} onChange={set("stallAfter")} placeholder="5m" />
              </Field>
            </>
          ) : (
            <>
              <Field id="rule-job" label="Job id" hint="Empty: every job of the namespace.">
                <input id="rule-job" value={values.jobId} onChange={set("jobId")} autoComplete="off" />
              </Field>
              <Field id="rule-selector" label="Label selector">
                <input id="rule-selector" value={values.labelSelector} onChange={set("labelSelector")} placeholder="env=prod" />
              </Field>
            </>
          )}
          <Field id="rule-min-interval" label="At most one per" hint="Default 1m; events meanwhile are counted into the next notification.">
            <input id="rule-min-interval" value={values.minInterval} onChange={set("minInterval")} placeholder="1m" />
          </Field>
        </div>
        <div className="actions">
          <button type="submit" className="primary" disabled={saving}>
            {saving ? "Creating…" : "Create rule"}
          </button>
        </div>
      </form>
    </details>
  );
}
