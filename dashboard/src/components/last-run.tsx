import type { Run } from "@chime/sdk/gen/run_pb";
import { relativeTime, toDate } from "../format";
import { href } from "../router";
import { RunStateBadge } from "./bits";

/** A job's newest run: its state, linking to its page, and how long ago it was scheduled. */
export function LastRun({ run, now }: { run?: Run; now: number }) {
  if (!run) return <span className="muted">none yet</span>;
  return (
    <a href={href.run(run.id)} className="last-run" data-state-of={run.jobId}>
      <RunStateBadge state={run.state} /> <span className="muted small">{relativeTime(toDate(run.scheduledTime), now)}</span>
    </a>
  );
}
