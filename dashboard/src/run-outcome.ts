import { RunState } from "@chime/sdk/gen/run_pb";

/**
 * The error that belongs to a run as it is now. `Run.error` keeps the last failed
 * attempt's error, so a run that then succeeded (or is running again, or was cancelled)
 * would otherwise show an earlier attempt's error as if it were its own outcome.
 */
export function ownError(state: RunState, error: string): string {
  return state === RunState.FAILED || state === RunState.TIMED_OUT || state === RunState.RETRY_WAIT ? error : "";
}
