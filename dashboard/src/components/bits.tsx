import { useState, type ReactNode } from "react";
import { JobState } from "@chime/sdk/gen/job_pb";
import { RunState } from "@chime/sdk/gen/run_pb";
import { JOB_STATE_NAMES, RUN_STATE_NAMES, formatTime, relativeTime } from "../format";

export function JobStateBadge({ state }: { state: JobState }) {
  const tone = state === JobState.ACTIVE ? "ok" : state === JobState.PAUSED ? "warn" : "muted";
  return <span className={`badge ${tone}`}>{JOB_STATE_NAMES[state] ?? state}</span>;
}

export function RunStateBadge({ state }: { state: RunState }) {
  const tone =
    state === RunState.SUCCEEDED
      ? "ok"
      : state === RunState.FAILED || state === RunState.TIMED_OUT
        ? "bad"
        : state === RunState.RUNNING
          ? "info"
          : state === RunState.RETRY_WAIT
            ? "warn"
            : "muted";
  return <span className={`badge ${tone}`} data-state={RUN_STATE_NAMES[state]}>{RUN_STATE_NAMES[state] ?? state}</span>;
}

/** A time as "in 4 s" with the exact local time beside it on wide screens and on hover. */
export function TimeCell({ date, now }: { date?: Date; now: number }) {
  if (!date) return <span className="muted">—</span>;
  return (
    <time dateTime={date.toISOString()} title={`${formatTime(date, true)} (${Intl.DateTimeFormat().resolvedOptions().timeZone})`}>
      {formatTime(date)} <span className="muted small">{relativeTime(date, now)}</span>
    </time>
  );
}

export function ErrorNote({ children, id }: { children: ReactNode; id?: string }) {
  if (!children) return null;
  return (
    <p className="error-note" role="alert" id={id}>
      {children}
    </p>
  );
}

/** A button that asks "are you sure?" in place, keyboard-friendly, without a modal. */
export function ConfirmButton({
  label,
  confirmLabel,
  onConfirm,
  disabled,
  danger = true,
}: {
  label: string;
  confirmLabel: string;
  onConfirm(): void;
  disabled?: boolean;
  danger?: boolean;
}) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return (
      <button type="button" className={danger ? "danger-outline" : ""} disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  }
  return (
    <span className="confirm" role="group" aria-label={confirmLabel}>
      <button
        type="button"
        className={danger ? "danger" : "primary"}
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirmLabel}
      </button>
      <button type="button" onClick={() => setAsking(false)}>
        Keep
      </button>
    </span>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
