import type { Results } from "./results.js";

export const WORKLOADS = ["burst", "steady", "cron", "api", "scale", "failover", "watch", "prune"] as const;
export type WorkloadName = (typeof WORKLOADS)[number];
export const SYSTEMS = ["chime", "graphile-worker", "pg-boss"] as const;
export type SystemName = (typeof SYSTEMS)[number];

export interface Sizes {
  burstJobs: number;
  steadyRates: number[];
  steadySeconds: number;
  cronJobs: number;
  cronSeconds: number;
  apiSeconds: number;
  apiConcurrency: number;
  scaleJobs: number;
  scaleBaselineJobs: number;
  /** Seconds of idle measurement before the due window, and length of the window. */
  scaleIdleSeconds: number;
  scaleWindowSeconds: number;
  failoverRate: number;
  failoverSeconds: number;
  watchSubscribers: number;
  watchRate: number;
  watchSeconds: number;
  /** Old finished runs the prune workload inserts, and its steady rate (jobs/s, for steadySeconds). */
  pruneRuns: number;
  pruneRate: number;
}

export const FULL: Sizes = {
  burstJobs: 100_000,
  steadyRates: [1000, 2000, 5000, 10_000, 20_000],
  steadySeconds: 60,
  cronJobs: 10_000,
  cronSeconds: 60,
  apiSeconds: 20,
  apiConcurrency: 64,
  scaleJobs: 1_000_000,
  scaleBaselineJobs: 1000,
  scaleIdleSeconds: 15,
  scaleWindowSeconds: 20,
  failoverRate: 2000,
  failoverSeconds: 30,
  watchSubscribers: 1000,
  watchRate: 2000,
  watchSeconds: 20,
  pruneRuns: 1_000_000,
  pruneRate: 1000,
};

/** The shortest steady window that may report a rate as held. */
export const MIN_STEADY_SECONDS = 30;

export const QUICK: Sizes = {
  burstJobs: 10_000,
  steadyRates: [1000, 5000],
  // A held rate needs a window long enough for a backlog to build: never under 30 s.
  steadySeconds: 30,
  cronJobs: 1000,
  cronSeconds: 10,
  apiSeconds: 5,
  apiConcurrency: 64,
  scaleJobs: 50_000,
  scaleBaselineJobs: 1000,
  scaleIdleSeconds: 4,
  scaleWindowSeconds: 6,
  failoverRate: 2000,
  failoverSeconds: 8,
  watchSubscribers: 1000,
  watchRate: 2000,
  watchSeconds: 8,
  pruneRuns: 100_000,
  pruneRate: 1000,
};

export interface BenchContext {
  quick: boolean;
  sizes: Sizes;
  systems: SystemName[];
  results: Results;
  /** "auto" (SDK Worker when it exists), "worker" or "raw". */
  chimeConsumer: string;
  /** SDK Worker concurrency when forced with --worker-concurrency; unset: the Worker's default, as the README's Worker gets it. */
  workerConcurrency?: number;
  /** Directory for V8 CPU profiles of the Chime servers, when --cpu-prof is given. */
  cpuProfDir?: string;
  /** --chime-ingest-process: the burst and steady servers run status ingestion (the ingest role) in a process of its own. */
  chimeIngestProcess?: boolean;
}
