// The browser-safe entry, "@chime/sdk/web": the client on a transport the caller builds
// (e.g. connect-web's createConnectTransport) and the plain-value spec helpers. Nothing here
// imports connect-node, NATS or node: modules, so bundlers can ship it to a page.
import type { Transport } from "@connectrpc/connect";
import { createChimeClientOn, type ChimeClient, type ChimeClientOptions } from "./client.js";

export type { ChimeClient, JobFilter, RunFilter, BatchJobSpec, BatchCreateResult } from "./client.js";
export { watchRuns, watchJob, isFinalWatchError, type WatchRunsFilter, type WatchOptions, type WatchJobMessage, type WatchTargets } from "./watch.js";
export { toJob, SPEC_FIELD_PATHS, type JobSpec, type RetrySpec } from "./job-spec.js";
export { toSchedule, parseDuration, durationFromMs, type ScheduleSpec, type DurationSpec, type ScheduleBounds, type DstSpec } from "./schedule-spec.js";

export * from "./plain-api.js";

export interface WebChimeClientOptions extends Omit<ChimeClientOptions, "transport" | "baseUrl"> {
  transport: Transport;
  /** Names the server in errors and watch reconnects; the transport decides where calls go. */
  baseUrl?: string;
}

/** A Chime client on the given transport; token and timeoutMs apply to every call. */
export function createChimeClient(options: WebChimeClientOptions): ChimeClient {
  return createChimeClientOn({ ...options, baseUrl: options.baseUrl ?? "" });
}
