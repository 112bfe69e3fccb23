import { JobState } from "@chime/sdk/gen/job_pb";
import type { RunState } from "@chime/sdk/gen/run_pb";
import { failuresOnTop } from "../alerts/alert-rules.js";

/** What the auto-pause judges a failed run's job on. */
export interface StreakJob {
  state: JobState;
  /** Job.pause_after_failures; 0: never. */
  pauseAfterFailures: number;
}

/**
 * Whether a failed run pauses its job: the job asks for it, is still active, and its latest
 * ended runs (newest first, this one included, CANCELLED left out, only those scheduled
 * since the job was last resumed) begin with pause_after_failures failures. Once is ensured
 * by the job's state: a paused job is not paused again, and resuming it starts the streak
 * afresh (the caller reads only the runs since). A job given the option during a longer
 * streak pauses at its next failure.
 */
export function autoPauseDue(job: StreakJob, latestStates: readonly RunState[]): boolean {
  if (job.pauseAfterFailures <= 0 || job.state !== JobState.ACTIVE) return false;
  return failuresOnTop(latestStates, job.pauseAfterFailures);
}
