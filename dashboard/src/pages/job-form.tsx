import { useEffect, useMemo, useRef, useState, type FormEvent, type ReactNode } from "react";
import { create, toJson, type JsonObject, type JsonValue } from "@bufbuild/protobuf";
import { timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { HttpRequestSchema, JobSchema, MisfirePolicy, OverlapPolicy, RetryPolicySchema, type Job } from "@chime/sdk/gen/job_pb";
import { DstAdjustment, DstGapPolicy, DstRepeatPolicy, ScheduleSchema, type Schedule } from "@chime/sdk/gen/schedule_pb";
import { durationFromMs } from "@chime/sdk/web";
import { errorMessage, fieldErrors, jobs } from "../api";
import { ErrorNote } from "../components/bits";
import { durationMs, durationText, formatTime, parseDurationText, relativeTime, toDate } from "../format";
import { useDebounced, useLoad, useToast } from "../hooks";
import { href, navigate } from "../router";

type Kind = "immediate" | "at" | "cron" | "interval";

/** Every input of the form, as the text typed. */
interface FormValues {
  name: string;
  namespace: string;
  queue: string;
  labels: string;
  kind: Kind;
  cronExpression: string;
  cronTimeZone: string;
  dstGap: DstGapPolicy;
  dstRepeat: DstRepeatPolicy;
  every: string;
  anchor: string;
  at: string;
  startTime: string;
  endTime: string;
  maxRuns: string;
  payload: string;
  maxAttempts: string;
  initialBackoff: string;
  maxBackoff: string;
  multiplier: string;
  jitter: string;
  attemptTimeout: string;
  overlap: OverlapPolicy;
  maxConcurrentRuns: string;
  misfire: MisfirePolicy;
  misfireWindow: string;
  httpMethod: string;
  httpUrl: string;
  httpHeaders: string;
  httpBody: string;
}

const BLANK: FormValues = {
  name: "",
  namespace: "",
  queue: "",
  labels: "",
  kind: "cron",
  cronExpression: "",
  cronTimeZone: "",
  dstGap: DstGapPolicy.UNSPECIFIED,
  dstRepeat: DstRepeatPolicy.UNSPECIFIED,
  every: "",
  anchor: "",
  at: "",
  startTime: "",
  endTime: "",
  maxRuns: "",
  payload: "{}",
  maxAttempts: "",
  initialBackoff: "",
  maxBackoff: "",
  multiplier: "",
  jitter: "",
  attemptTimeout: "",
  overlap: OverlapPolicy.UNSPECIFIED,
  maxConcurrentRuns: "",
  misfire: MisfirePolicy.UNSPECIFIED,
  misfireWindow: "",
  httpMethod: "POST",
  httpUrl: "",
  httpHeaders: "",
  httpBody: "",
};

/** The fields UpdateJob may replace (proto names, as in the update mask). */
const UPDATABLE = [
  "name",
  "queue",
  "payload",
  "labels",
  "schedule",
  "retry_policy",
  "attempt_timeout",
  "overlap_policy",
  "max_concurrent_runs",
  "misfire_policy",
  "misfire_window",
  "http",
] as const;
const JSON_NAME: Record<(typeof UPDATABLE)[number], string> = {
  name: "name",
  queue: "queue",
  payload: "payload",
  labels: "labels",
  schedule: "schedule",
  retry_policy: "retryPolicy",
  attempt_timeout: "attemptTimeout",
  overlap_policy: "overlapPolicy",
  max_concurrent_runs: "maxConcurrentRuns",
  misfire_policy: "misfirePolicy",
  misfire_window: "misfireWindow",
  http: "http",
};

type Problems = Record<string, string[]>;

const pad = (n: number) => String(n).padStart(2, "0");
/** A Date as the value of an <input type="datetime-local" step="1"> (local time). */
function localInput(date: Date | undefined): string {
  if (!date) return "";
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

function durationOf(text: string, field: string, problems: Problems): Duration | undefined {
  if (!text.trim()) return undefined;
  const ms = parseDurationText(text);
  if (ms === undefined) {
    (problems[field] ??= []).push(`${JSON.stringify(text)} is not a duration: write e.g. 500ms, 5s, 1m30s, 2h`);
    return undefined;
  }
  return durationFromMs(ms);
}

function timeOf(text: string, field: string, problems: Problems): Timestamp | undefined {
  if (!text) return undefined;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    (problems[field] ??= []).push("is not a valid time");
    return undefined;
  }
  return timestampFromDate(date);
}

function numberOf(text: string, field: string, problems: Problems, integer = true): number {
  if (!text.trim()) return 0;
  const n = Number(text);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) {
    (problems[field] ??= []).push(integer ? "expected a whole number" : "expected a number");
    return 0;
  }
  return n;
}

/** The schedule the form describes; problems found without asking the server go in `problems`. */
function scheduleOf(v: FormValues, problems: Problems): Schedule {
  const schedule = create(ScheduleSchema, {
    startTime: timeOf(v.startTime, "schedule.start_time", problems),
    endTime: timeOf(v.endTime, "schedule.end_time", problems),
    maxRuns: BigInt(numberOf(v.maxRuns, "schedule.max_runs", problems)),
  });
  switch (v.kind) {
    case "immediate":
      schedule.kind = { case: "immediate", value: { $typeName: "chime.v1.Immediate" } };
      break;
    case "at": {
      const time = timeOf(v.at, "schedule.at.time", problems);
      if (!v.at) (problems["schedule.at.time"] ??= []).push("is required");
      schedule.kind = { case: "at", value: { $typeName: "chime.v1.At", time } };
      break;
    }
    case "cron": {
      const fields = v.cronExpression.trim().split(/\s+/).filter(Boolean);
      if (fields.length === 0) (problems["schedule.cron.expression"] ??= []).push("is required");
      else if (fields.length !== 5 && fields.length !== 6 && !v.cronExpression.trim().startsWith("@")) {
        (problems["schedule.cron.expression"] ??= []).push(`has ${fields.length} field${fields.length === 1 ? "" : "s"}: expected 5 (minute hour day month weekday) or 6 (seconds first)`);
      }
      schedule.kind = { case: "cron", value: {
          $typeName: "chime.v1.Cron",
          expression: v.cronExpression.trim(),
          timeZone: v.cronTimeZone.trim(),
          dstGap: v.dstGap,
          dstRepeat: v.dstRepeat,
        },
      };
      break;
    }
    case "interval": {
      if (!v.every.trim()) (problems["schedule.interval.every"] ??= []).push("is required");
      schedule.kind = {
        case: "interval",
        value: {
          $typeName: "chime.v1.Interval",
          every: durationOf(v.every, "schedule.interval.every", problems),
          anchor: timeOf(v.anchor, "schedule.interval.anchor", problems),
        },
      };
      break;
    }
  }
  return schedule;
}

function parsePairs(text: string, separator: "=" | ":", field: string, problems: Problems): Record<string, string> {
  const result: Record<string, string> = {};
  for (const raw of text.split(separator === "=" ? /[\n,]/ : /\n/).map((t) => t.trim()).filter(Boolean)) {
    const at = raw.indexOf(separator);
    const key = (at < 0 ? raw : raw.slice(0, at)).trim();
    if (!key) {
      (problems[field] ??= []).push(`${JSON.stringify(raw)}: expected key${separator}value`);
      continue;
    }
    result[key] = at < 0 ? "" : raw.slice(at + 1).trim();
  }
  return result;
}

/** The job the form describes, and the problems found before asking the server. */
function jobOf(v: FormValues, id = ""): { job: Job; problems: Problems } {
  const problems: Problems = {};
  let payload: JsonObject | undefined;
  if (v.payload.trim()) {
    try {
      const parsed = JSON.parse(v.payload) as JsonValue;
      if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) problems.payload = ["must be a JSON object, e.g. {\"key\": \"value\"}"];
      else payload = parsed as JsonObject;
    } catch (error) {
      problems.payload = [`is not valid JSON: ${(error as Error).message}`];
    }
  }
  const retrySet = [v.maxAttempts, v.initialBackoff, v.maxBackoff, v.multiplier, v.jitter].some((t) => t.trim());
  const job = create(JobSchema, {
    id,
    name: v.name.trim(),
    namespace: v.namespace.trim(),
    queue: v.queue.trim(),
    labels: parsePairs(v.labels, "=", "labels", problems),
    schedule: scheduleOf(v, problems),
    retryPolicy: retrySet
      ? create(RetryPolicySchema, {
          maxAttempts: numberOf(v.maxAttempts, "retry_policy.max_attempts", problems),
          initialBackoff: durationOf(v.initialBackoff, "retry_policy.initial_backoff", problems),
          maxBackoff: durationOf(v.maxBackoff, "retry_policy.max_backoff", problems),
          backoffMultiplier: numberOf(v.multiplier, "retry_policy.backoff_multiplier", problems, false),
          jitter: v.jitter.trim() ? numberOf(v.jitter, "retry_policy.jitter", problems, false) : undefined,
        })
      : undefined,
    attemptTimeout: durationOf(v.attemptTimeout, "attempt_timeout", problems),
    overlapPolicy: v.overlap,
    maxConcurrentRuns: numberOf(v.maxConcurrentRuns, "max_concurrent_runs", problems),
    misfirePolicy: v.misfire,
    misfireWindow: durationOf(v.misfireWindow, "misfire_window", problems),
    http:
      v.queue.trim() === "http"
        ? create(HttpRequestSchema, { method: v.httpMethod, url: v.httpUrl.trim(), headers: parsePairs(v.httpHeaders, ":", "http.headers", problems), body: v.httpBody })
        : undefined,
  });
  // protobuf-es holds a google.protobuf.Struct field as the plain JSON object.
  if (payload) job.payload = payload;
  return { job, problems };
}

/** The form's values for an existing job. */
function valuesOf(job: Job): FormValues {
  const v: FormValues = { ...BLANK, name: job.name, namespace: job.namespace, queue: job.queue };
  v.labels = Object.entries(job.labels)
    .map(([k, val]) => (val ? `${k}=${val}` : k))
    .join(", ");
  const s = job.schedule;
  if (s) {
    v.startTime = localInput(toDate(s.startTime));
    v.endTime = localInput(toDate(s.endTime));
    v.maxRuns = s.maxRuns > 0n ? String(s.maxRuns) : "";
    if (s.kind.case === "immediate") v.kind = "immediate";
    else if (s.kind.case === "at") {
      v.kind = "at";
      v.at = localInput(toDate(s.kind.value.time));
    } else if (s.kind.case === "cron") {
      v.kind = "cron";
      v.cronExpression = s.kind.value.expression;
      v.cronTimeZone = s.kind.value.timeZone;
      v.dstGap = s.kind.value.dstGap;
      v.dstRepeat = s.kind.value.dstRepeat;
    } else if (s.kind.case === "interval") {
      v.kind = "interval";
      v.every = durationText(durationMs(s.kind.value.every));
      v.anchor = localInput(toDate(s.kind.value.anchor));
    }
  }
  v.payload = JSON.stringify(job.payload ?? {}, null, 2);
  const r = job.retryPolicy;
  if (r) {
    v.maxAttempts = r.maxAttempts ? String(r.maxAttempts) : "";
    v.initialBackoff = durationText(durationMs(r.initialBackoff));
    v.maxBackoff = durationText(durationMs(r.maxBackoff));
    v.multiplier = r.backoffMultiplier ? String(r.backoffMultiplier) : "";
    v.jitter = r.jitter === undefined ? "" : String(r.jitter);
  }
  v.attemptTimeout = durationText(durationMs(job.attemptTimeout));
  v.overlap = job.overlapPolicy;
  v.maxConcurrentRuns = job.maxConcurrentRuns ? String(job.maxConcurrentRuns) : "";
  v.misfire = job.misfirePolicy;
  v.misfireWindow = durationText(durationMs(job.misfireWindow));
  if (job.http) {
    v.httpMethod = job.http.method || "POST";
    v.httpUrl = job.http.url;
    v.httpHeaders = Object.entries(job.http.headers)
      .map(([k, val]) => `${k}: ${val}`)
      .join("\n");
    v.httpBody = job.http.body;
  }
  return v;
}

/** Server field paths ("job.schedule.cron.expression", "job.labels[\"x\"]") as the form's keys. */
function formKey(path: string): string {
  return path
    .replace(/^(job|request)\./, "")
    .replace(/^labels\[.*$/, "labels")
    .replace(/^http\.headers\[.*$/, "http.headers");
}

/** What the preview says of a time a DST rule changed. */
const DST_MARK: Record<DstAdjustment, string | undefined> = {
  [DstAdjustment.UNSPECIFIED]: undefined,
  [DstAdjustment.SHIFTED]: "shifted past the DST gap",
  [DstAdjustment.SKIPPED]: "skipped: in the DST gap",
  [DstAdjustment.DOUBLED]: "again: the hour repeats",
};

const TIME_ZONES: string[] = (() => {
  try {
    return (Intl as unknown as { supportedValuesOf(key: string): string[] }).supportedValuesOf("timeZone");
  } catch {
    return ["UTC", "Europe/Paris", "America/New_York"];
  }
})();

/** Keys the form shows next to an input; other problems go in the summary at the top. */
const SHOWN = new Set([
  "name",
  "namespace",
  "queue",
  "labels",
  "schedule",
  "schedule.cron.expression",
  "schedule.cron.time_zone",
  "schedule.cron.dst_gap",
  "schedule.cron.dst_repeat",
  "schedule.interval.every",
  "schedule.interval.anchor",
  "schedule.at.time",
  "schedule.start_time",
  "schedule.end_time",
  "schedule.max_runs",
  "payload",
  "retry_policy.max_attempts",
  "retry_policy.initial_backoff",
  "retry_policy.max_backoff",
  "retry_policy.backoff_multiplier",
  "retry_policy.jitter",
  "attempt_timeout",
  "overlap_policy",
  "max_concurrent_runs",
  "misfire_policy",
  "misfire_window",
  "http",
  "http.method",
  "http.url",
  "http.headers",
  "http.body",
]);

export function JobFormPage({ id }: { id?: string }) {
  const toast = useToast();
  const existing = useLoad(async (signal) => (id ? (await jobs.getJob({ id }, { signal, timeoutMs: 10_000 })).job : undefined), [id]);
  const [values, setValues] = useState<FormValues>({ ...BLANK, cronExpression: "*/5 * * * * *" });
  const [loadedFor, setLoadedFor] = useState<string | undefined>();
  const [serverProblems, setServerProblems] = useState<Problems>({});
  const [touched, setTouched] = useState(false);
  const [saving, setSaving] = useState(false);
  const summaryRef = useRef<HTMLDivElement>(null);

  useEffect(() => {
    if (id && existing.data && loadedFor !== id) {
      setValues(valuesOf(existing.data));
      setLoadedFor(id);
    }
  }, [id, existing.data, loadedFor]);

  const set = <K extends keyof FormValues>(key: K, value: FormValues[K]) => {
    setValues((v) => ({ ...v, [key]: value }));
    setTouched(true);
  };
  const built = useMemo(() => jobOf(values, id), [values, id]);
  const clientProblems = built.problems;

  // Upcoming fire times as the schedule is typed (PreviewSchedule: the server's own rules).
  const scheduleJson = useMemo(() => {
    const p: Problems = {};
    const schedule = scheduleOf(values, p);
    return Object.keys(p).length ? undefined : JSON.stringify(toJson(ScheduleSchema, schedule));
  }, [values]);
  const debouncedSchedule = useDebounced(scheduleJson, 300);
  const preview = useLoad(
    async (signal) => {
      if (!debouncedSchedule) return undefined;
      const schedule = scheduleOf(values, {});
      return (await jobs.previewSchedule({ schedule, count: 5 }, { signal, timeoutMs: 10_000 })).times;
    },
    [debouncedSchedule],
  );
  const previewProblems: Problems = {};
  for (const [k, v] of Object.entries((preview.error && fieldErrors(preview.cause)) || {})) previewProblems[formKey(k)] = v;

  const problemsFor = (key: string): string[] => {
    // Client checks first (they are instant); then the server's answer to the last submit, then the preview's.
    const list = [...(touched || Object.keys(serverProblems).length ? clientProblems[key] ?? [] : []), ...(serverProblems[key] ?? []), ...(previewProblems[key] ?? [])];
    return [...new Set(list)];
  };

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    setTouched(true);
    if (Object.keys(clientProblems).length > 0) {
      setServerProblems({});
      focusFirstInvalid(clientProblems);
      return;
    }
    setSaving(true);
    try {
      let saved: Job | undefined;
      if (!id) {
        saved = (await jobs.createJob({ job: built.job })).job;
      } else {
        const before = toJson(JobSchema, existing.data!) as Record<string, unknown>;
        const after = toJson(JobSchema, built.job) as Record<string, unknown>;
        const paths = UPDATABLE.filter((f) => JSON.stringify(before[JSON_NAME[f]] ?? null) !== JSON.stringify(after[JSON_NAME[f]] ?? null));
        if (paths.length === 0) {
          toast("Nothing changed");
          navigate(href.job(id));
          return;
        }
        saved = (await jobs.updateJob({ job: built.job, updateMask: { paths: [...paths] } })).job;
      }
      setServerProblems({});
      toast(id ? "Job saved" : "Job created");
      if (saved) navigate(href.job(saved.id));
    } catch (error) {
      const byField = fieldErrors(error);
      if (byField) {
        const mapped: Problems = {};
        for (const [k, v] of Object.entries(byField)) (mapped[formKey(k)] ??= []).push(...v);
        setServerProblems(mapped);
        focusFirstInvalid(mapped);
      } else {
        setServerProblems({ "": [errorMessage(error)] });
        summaryRef.current?.focus();
      }
    } finally {
      setSaving(false);
    }
  };

  const focusFirstInvalid = (problems: Problems) => {
    requestAnimationFrame(() => {
      const first = Object.keys(problems).find((k) => SHOWN.has(k));
      const input = first ? document.getElementById(inputId(first)) : null;
      if (input) input.focus();
      else summaryRef.current?.focus();
    });
  };

  if (id && existing.error && !existing.data) return <ErrorNote>Cannot load job {id}: {existing.error}</ErrorNote>;
  if (id && !loadedFor) return <p className="muted">Loading…</p>;

  const unshown = Object.entries(serverProblems).filter(([k]) => !SHOWN.has(k));
  const field = (key: string, label: string, input: ReactNode, hint?: ReactNode) => (
    <FormField key={key} name={key} label={label} problems={problemsFor(key)} hint={hint}>
      {input}
    </FormField>
  );
  const text = (key: string, k: keyof FormValues, extra: Record<string, unknown> = {}) => (
    <input
      id={inputId(key)}
      value={values[k] as string}
      onChange={(e) => set(k, e.target.value as never)}
      aria-invalid={problemsFor(key).length ? true : undefined}
      aria-describedby={`${inputId(key)}-note`}
      {...extra}
    />
  );

  return (
    <section aria-labelledby="form-title">
      <nav className="crumbs" aria-label="Breadcrumb">
        <a href={href.jobs()}>Jobs</a> <span aria-hidden="true">/</span>
        {id && existing.data && (
          <>
            {" "}
            <a href={href.job(id)}>{existing.data.name}</a> <span aria-hidden="true">/</span>
          </>
        )}
      </nav>
      <h1 id="form-title">{id ? "Edit job" : "New job"}</h1>
      <div ref={summaryRef} tabIndex={-1} className="summary-target">
        {(unshown.length > 0 || Object.keys(serverProblems).length > 0) && (
          <div className="error-summary" role="alert">
            <strong>The job was not saved.</strong>
            <ul>
              {Object.entries(serverProblems).map(([k, v]) =>
                v.map((p) => (
                  <li key={k + p}>
                    {SHOWN.has(k) ? (
                      <a href={`#${inputId(k)}`} onClick={(e) => (e.preventDefault(), document.getElementById(inputId(k))?.focus())}>
                        {k}: {p}
                      </a>
                    ) : (
                      <>{k ? `${k}: ${p}` : p}</>
                    )}
                  </li>
                )),
              )}
            </ul>
          </div>
        )}
      </div>
      <form className="job-form" onSubmit={(e) => void submit(e)} noValidate>
        <fieldset>
          <legend>Job</legend>
          <div className="row">
            {field("name", "Name", text("name", "name", { required: true, autoComplete: "off", placeholder: "nightly-report" }))}
            {field("queue", "Queue", text("queue", "queue", { required: true, placeholder: "reports", list: "queue-suggestions" }), <>Workers of this queue run it; <code>http</code> is the built-in HTTP executor.</>)}
            {field("namespace", "Namespace", text("namespace", "namespace", { placeholder: "default", disabled: Boolean(id) }))}
          </div>
          <datalist id="queue-suggestions">
            <option value="http" />
          </datalist>
          {field("labels", "Labels", text("labels", "labels", { placeholder: "env=prod, team=billing" }), "key=value pairs, separated by commas")}
        </fieldset>

        <fieldset>
          <legend>Schedule</legend>
          <div className="kinds" role="radiogroup" aria-label="Schedule kind">
            {(
              [
                ["cron", "Cron"],
                ["interval", "Every"],
                ["at", "Once at"],
                ["immediate", "Now"],
              ] as const
            ).map(([kind, label]) => (
              <label key={kind} className={`kind ${values.kind === kind ? "on" : ""}`}>
                <input type="radio" name="kind" value={kind} checked={values.kind === kind} onChange={() => set("kind", kind)} /> {label}
              </label>
            ))}
          </div>
          {values.kind === "cron" && (
            <div className="row">
              {field(
                "schedule.cron.expression",
                "Cron expression",
                text("schedule.cron.expression", "cronExpression", { className: "mono", spellCheck: false, autoComplete: "off" }),
                "6 fields with seconds first (*/5 * * * * *), or 5 (0 9 * * MON-FRI)",
              )}
              {field("schedule.cron.time_zone", "Time zone", text("schedule.cron.time_zone", "cronTimeZone", { list: "time-zones", placeholder: "UTC" }))}
              {field(
                "schedule.cron.dst_gap",
                "Time skipped by DST",
                <select id={inputId("schedule.cron.dst_gap")} value={values.dstGap} onChange={(e) => set("dstGap", Number(e.target.value) as DstGapPolicy)}>
                  <option value={DstGapPolicy.UNSPECIFIED}>shift past the gap (default)</option>
                  <option value={DstGapPolicy.SHIFT}>shift past the gap</option>
                  <option value={DstGapPolicy.SKIP}>skip that day</option>
                </select>,
                "spring forward: 02:30 fires at 03:30, or not at all",
              )}
              {field(
                "schedule.cron.dst_repeat",
                "Time repeated by DST",
                <select id={inputId("schedule.cron.dst_repeat")} value={values.dstRepeat} onChange={(e) => set("dstRepeat", Number(e.target.value) as DstRepeatPolicy)}>
                  <option value={DstRepeatPolicy.UNSPECIFIED}>first occurrence (default)</option>
                  <option value={DstRepeatPolicy.FIRST}>first occurrence</option>
                  <option value={DstRepeatPolicy.BOTH}>both occurrences</option>
                </select>,
                "fall back: 01:30 fires once, or twice",
              )}
              <datalist id="time-zones">
                {TIME_ZONES.map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </div>
          )}
          {values.kind === "interval" && (
            <div className="row">
              {field("schedule.interval.every", "Every", text("schedule.interval.every", "every", { placeholder: "5s, 1m30s, 2h" }), "at least 1s")}
              {field("schedule.interval.anchor", "Anchor (optional)", text("schedule.interval.anchor", "anchor", { type: "datetime-local", step: 1 }), "fires at anchor + k × every; empty means the creation time")}
            </div>
          )}
          {values.kind === "at" && field("schedule.at.time", "Time", text("schedule.at.time", "at", { type: "datetime-local", step: 1 }), `your local time (${Intl.DateTimeFormat().resolvedOptions().timeZone})`)}
          {values.kind === "immediate" && <p className="muted">Runs once, as soon as the job is created.</p>}
          {values.kind !== "immediate" && (
            <details className="more" open={Boolean(values.startTime || values.endTime || values.maxRuns)}>
              <summary>Start, end and run limit</summary>
              <div className="row">
                {field("schedule.start_time", "Not before", text("schedule.start_time", "startTime", { type: "datetime-local", step: 1 }))}
                {field("schedule.end_time", "Not after", text("schedule.end_time", "endTime", { type: "datetime-local", step: 1 }))}
                {field("schedule.max_runs", "At most runs", text("schedule.max_runs", "maxRuns", { inputMode: "numeric", placeholder: "no limit" }))}
              </div>
            </details>
          )}
          <ErrorNote>{problemsFor("schedule").join("; ")}</ErrorNote>
          <div className="preview" aria-live="polite" data-testid="schedule-preview">
            <strong>Next fire times</strong>{" "}
            {preview.loading && debouncedSchedule ? <span className="muted small">checking…</span> : null}
            {!debouncedSchedule && <span className="muted small">complete the schedule to see when it fires</span>}
            {debouncedSchedule && preview.error && !Object.keys(previewProblems).some((k) => k) && <span className="error-text">{preview.error}</span>}
            {debouncedSchedule && preview.data && !preview.error && (
              preview.data.length === 0 ? (
                <span className="muted">never: the schedule has no fire time left</span>
              ) : (
                <ol>
                  {preview.data.map((t, i) => {
                    const d = toDate(t.time)!;
                    const dst = DST_MARK[t.dstAdjustment];
                    return (
                      <li key={`${i}-${d.toISOString()}`} className={t.dstAdjustment === DstAdjustment.SKIPPED ? "muted" : undefined}>
                        <time dateTime={d.toISOString()}>{formatTime(d)}</time> <span className="muted small">{relativeTime(d)}</span>
                        {dst && <span className="small"> · {dst}</span>}
                      </li>
                    );
                  })}
                </ol>
              )
            )}
          </div>
        </fieldset>

        <fieldset>
          <legend>Payload</legend>
          {field(
            "payload",
            "Payload (JSON object)",
            <textarea
              id={inputId("payload")}
              className="mono"
              rows={5}
              spellCheck={false}
              value={values.payload}
              onChange={(e) => set("payload", e.target.value)}
              aria-invalid={problemsFor("payload").length ? true : undefined}
              aria-describedby={`${inputId("payload")}-note`}
            />,
            "handed to the worker as it is",
          )}
          {values.queue.trim() === "http" && (
            <div className="http">
              <div className="row">
                {field(
                  "http.method",
                  "Method",
                  <select id={inputId("http.method")} value={values.httpMethod} onChange={(e) => set("httpMethod", e.target.value)}>
                    {["GET", "POST", "PUT", "PATCH", "DELETE"].map((m) => (
                      <option key={m}>{m}</option>
                    ))}
                  </select>,
                )}
                {field("http.url", "URL", text("http.url", "httpUrl", { type: "url", placeholder: "https://example.com/hook" }))}
              </div>
              {field(
                "http.headers",
                "Headers",
                <textarea id={inputId("http.headers")} className="mono" rows={2} value={values.httpHeaders} onChange={(e) => set("httpHeaders", e.target.value)} />,
                "one Name: value a line",
              )}
              {field("http.body", "Body", <textarea id={inputId("http.body")} className="mono" rows={3} value={values.httpBody} onChange={(e) => set("httpBody", e.target.value)} />)}
            </div>
          )}
        </fieldset>

        <fieldset>
          <legend>Policies</legend>
          <div className="row">
            {field("retry_policy.max_attempts", "Max attempts", text("retry_policy.max_attempts", "maxAttempts", { inputMode: "numeric", placeholder: "server default" }), "1 means no retry")}
            {field("retry_policy.initial_backoff", "First backoff", text("retry_policy.initial_backoff", "initialBackoff", { placeholder: "e.g. 1s" }))}
            {field("retry_policy.max_backoff", "Longest backoff", text("retry_policy.max_backoff", "maxBackoff", { placeholder: "e.g. 5m" }))}
            {field("retry_policy.backoff_multiplier", "Backoff multiplier", text("retry_policy.backoff_multiplier", "multiplier", { inputMode: "decimal", placeholder: "e.g. 2" }))}
            {field("retry_policy.jitter", "Jitter (0–1)", text("retry_policy.jitter", "jitter", { inputMode: "decimal", placeholder: "0.2" }))}
            {field("attempt_timeout", "Attempt timeout", text("attempt_timeout", "attemptTimeout", { placeholder: "server default" }))}
          </div>
          <div className="row">
            {field(
              "overlap_policy",
              "When a run is still active",
              <select id={inputId("overlap_policy")} value={values.overlap} onChange={(e) => set("overlap", Number(e.target.value) as OverlapPolicy)}>
                <option value={OverlapPolicy.UNSPECIFIED}>allow (default)</option>
                <option value={OverlapPolicy.ALLOW}>allow: run alongside</option>
                <option value={OverlapPolicy.SKIP}>skip: do not fire</option>
                <option value={OverlapPolicy.BUFFER_ONE}>buffer one: keep one waiting run</option>
                <option value={OverlapPolicy.CANCEL_PREVIOUS}>cancel previous: replace the active run</option>
              </select>,
            )}
            {field("max_concurrent_runs", "Max concurrent runs", text("max_concurrent_runs", "maxConcurrentRuns", { inputMode: "numeric", placeholder: "no bound" }))}
            {field(
              "misfire_policy",
              "Missed fire times",
              <select id={inputId("misfire_policy")} value={values.misfire} onChange={(e) => set("misfire", Number(e.target.value) as MisfirePolicy)}>
                <option value={MisfirePolicy.UNSPECIFIED}>run once (default)</option>
                <option value={MisfirePolicy.SKIP}>skip: wait for the next time</option>
                <option value={MisfirePolicy.RUN_ONCE}>run once for all missed</option>
                <option value={MisfirePolicy.RUN_ALL}>run all within the window</option>
              </select>,
            )}
            {field("misfire_window", "Misfire window", text("misfire_window", "misfireWindow", { placeholder: "1h" }))}
          </div>
        </fieldset>

        <div className="actions sticky-actions">
          <button type="submit" className="primary" disabled={saving}>
            {saving ? "Saving…" : id ? "Save changes" : "Create job"}
          </button>
          <a className="button" href={id ? href.job(id) : href.jobs()}>
            Cancel
          </a>
        </div>
      </form>
    </section>
  );
}

function inputId(key: string): string {
  return `field-${key.replace(/[^a-z0-9]+/gi, "-")}`;
}

function FormField({ name, label, problems, hint, children }: { name: string; label: string; problems: string[]; hint?: ReactNode; children: ReactNode }) {
  const id = inputId(name);
  return (
    <div className={`field ${problems.length ? "invalid" : ""}`} data-field={name}>
      <label htmlFor={id}>{label}</label>
      {children}
      <div id={`${id}-note`}>
        {problems.length > 0 ? (
          <p className="error-note" role="alert" data-testid={`error-${name}`}>
            {problems.join("; ")}
          </p>
        ) : hint ? (
          <p className="hint">{hint}</p>
        ) : null}
      </div>
    </div>
  );
}
