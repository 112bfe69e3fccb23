import { JobState, MisfirePolicy, OverlapPolicy, type Job } from "@chime/sdk";
import { lastFireTimeBetween, nextFireTime } from "../jobs/schedule.js";
import { durationToMs } from "../util/time.js";

/** Runs of a job that are not finished yet (QUEUED, RUNNING or RETRY_WAIT). */
export interface ActiveRuns {
  /** Published, or running: on their way through a worker. */
  active: number;
  /** Held back by BUFFER_ONE until the others end. */
  held: number;
}

export interface Fire {
  scheduledTime: Date;
  /** Not published until the job has no other active run (BUFFER_ONE). */
  held: boolean;
}

export interface FirePlan {
  fires: Fire[];
  /** Cancel the job's active runs first (CANCEL_PREVIOUS). */
  cancelActive: boolean;
  /** Fire times dropped by the misfire or overlap policy. */
  skipped: number;
  next: Date | null;
  state: JobState;
  runCount: number;
}

export interface PlanOptions {
  /** A fire time older than this when the scheduler reaches it counts as missed. */
  misfireThresholdMs: number;
  /** Most fire times one job produces in one pass; the rest come in the next pass. */
  maxFiresPerPass: number;
}

export interface DueJobState {
  job: Job;
  nextRunTime: Date;
  runCount: number;
  createTime: Date;
}

/**
 * Decides what a due job fires now: the times due up to `now`, after the misfire policy
 * (times older than the threshold: SKIP drops them, RUN_ONCE keeps the latest, RUN_ALL
 * keeps those within the misfire window) and the overlap policy, and where its schedule
 * goes next. Pure: the same inputs give the same plan.
 */
export function planFires(due: DueJobState, now: Date, active: ActiveRuns, options: PlanOptions): FirePlan {
  const { job } = due;
  const schedule = job.schedule!;
  const context = (runCount: number) => ({ createTime: due.createTime, runCount });
  const missedBefore = now.getTime() - options.misfireThresholdMs;
  const candidates: Date[] = [];
  let skipped = 0;
  let last = new Date(due.nextRunTime.getTime() - 1);
  let truncated = false;

  const collect = (from: Date, until: number, into: Date[]) => {
    let cursor = from;
    for (;;) {
      if (into.length >= options.maxFiresPerPass) {
        truncated = true;
        return;
      }
      const next = nextFireTime(schedule, cursor, context(due.runCount + into.length));
      if (!next || next.getTime() > until || next.getTime() <= cursor.getTime()) return;
      into.push(next);
      cursor = next;
      last = next;
    }
  };

  // The stored next fire time is itself a fire time: it is taken as computed, never
  // recomputed from just before it (a time that DST moved out of a skipped hour, say
  // 02:30 -> 03:30, is not found again by a search that starts at 03:29).
  const take = (time: Date) => {
    candidates.push(time);
    last = time;
  };
  if (due.nextRunTime.getTime() < missedBefore) {
    // The job missed fire times (downtime, pause): apply its misfire policy to them.
    const floor = new Date(missedBefore);
    switch (job.misfirePolicy) {
      case MisfirePolicy.RUN_ALL: {
        const windowStart = now.getTime() - (job.misfireWindow ? durationToMs(job.misfireWindow) : 0);
        if (due.nextRunTime.getTime() >= windowStart) take(due.nextRunTime);
        else last = new Date(windowStart - 1);
        collect(last, missedBefore, candidates);
        break;
      }
      case MisfirePolicy.SKIP:
        break;
      default:
        take(lastFireTimeBetween(schedule, due.nextRunTime, floor, context(due.runCount)) ?? due.nextRunTime);
    }
    if (!truncated) last = floor;
  } else {
    take(due.nextRunTime);
  }
  if (!truncated) collect(last, now.getTime(), candidates);

  const { fires, cancelActive } = admitFires(job, active, candidates);
  skipped += candidates.length - fires.length;

  const runCount = due.runCount + fires.length;
  const next = nextFireTime(schedule, last, context(runCount));
  const hasNext = next !== undefined && next.getTime() > last.getTime();
  return {
    fires,
    cancelActive,
    skipped,
    next: hasNext ? next : null,
    state: hasNext ? JobState.ACTIVE : JobState.COMPLETED,
    runCount,
  };
}

/**
 * The overlap policy and max_concurrent_runs bound: which of the candidate fire times
 * (oldest first) may start given the job's active runs. ALLOW fires them all (up to the
 * bound); SKIP fires the latest only when nothing is active; BUFFER_ONE fires the latest,
 * held back while a run is active, unless one is already waiting; CANCEL_PREVIOUS cancels
 * the active runs and fires the latest.
 */
export function admitFires(job: Job, active: ActiveRuns, candidates: Date[]): { fires: Fire[]; cancelActive: boolean } {
  const activeCount = active.active + active.held;
  const bound = job.maxConcurrentRuns > 0 ? Math.max(0, job.maxConcurrentRuns - activeCount) : Infinity;
  const latest = candidates.length ? [candidates[candidates.length - 1]] : [];
  const start = (times: Date[], held = false) => times.map((scheduledTime) => ({ scheduledTime, held }));
  switch (job.overlapPolicy) {
    case OverlapPolicy.SKIP:
      return { fires: activeCount > 0 ? [] : start(latest), cancelActive: false };
    case OverlapPolicy.BUFFER_ONE:
      if (activeCount === 0) return { fires: start(latest), cancelActive: false };
      return { fires: active.held === 0 ? start(latest, true) : [], cancelActive: false };
    case OverlapPolicy.CANCEL_PREVIOUS:
      return { fires: start(latest), cancelActive: latest.length > 0 && activeCount > 0 };
    default:
      return { fires: start(candidates.slice(0, bound)), cancelActive: false };
  }
}
