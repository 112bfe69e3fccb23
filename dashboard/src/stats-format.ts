import type { Duration } from "@bufbuild/protobuf/wkt";
import type { EndedRunStats } from "@chime/sdk/gen/stats_service_pb";
import { durationMs, formatMs } from "./format";

/** "75 %" of the runs that succeeded, failed or timed out; "—" when none of those ended. */
export function successRate(ended: EndedRunStats | undefined): string {
  if (!ended || ended.succeeded + ended.failed + ended.timedOut === 0n) return "—";
  return `${Math.round(ended.successRate * 1000) / 10} %`;
}

/** Two percentiles as "12 ms / 1.00 s" ("—" for one unset, as when no run started). */
export const durationPair = (a: Duration | undefined, b: Duration | undefined) => `${formatMs(durationMs(a))} / ${formatMs(durationMs(b))}`;
