import { JobState, MisfirePolicy, OverlapPolicy, type Job } from "@chime/sdk";
import { lastFireTimeBetween, nextFire, nextFireTime, type ScheduleContext } from "../jobs/schedule.js";
import { JOB_DEFAULTS } from "../jobs/job-validation.js";
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

/** Fire times decided together: how many, the first and the last. */
export interface FireSpan {
  first: Date;
  last: Date;
  /** At most MAX_COUNTED_FIRES: a longer span is counted that far, not enumerated to its end. */
  count: number;
}

/** Fire times of one missed span counted at most: enough to tell a storm, cheap to count. */
export const MAX_COUNTED_FIRES = 1000;

export interface FirePlan {
  fires: Fire[];
  /** The times considered for firing, oldest first (`fires` are some of them). */
  candidates: Date[];
  /** How many of the first candidates are catch-up runs of missed times (RUN_ONCE, RUN_ALL). */
  catchUps: number;
  /** Times due up to now that the misfire policy dropped. */
  missed?: FireSpan;
  /** Cancel the job's active runs first (CANCEL_PREVIOUS). */
  cancelActive: boolean;
  /** Fire times dropped by the misfire or overlap policy. */
  skipped: number;
  /**
   * Cron times that DST_GAP_POLICY_SKIP dropped (they fell in a spring-forward gap) between the
   * plan's times and its next one, each decided once: when the step over them is taken.
   */
  dstSkipped?: FireSpan;
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
 * Decides what a due job fires now. Its stored next fire time N is judged against the
 * misfire threshold: at most the threshold late, N is on time, and so is every later time due
 * up to `now` (the scheduler was slow or briefly away, e.g. a failover: each fires late). More
 * than the threshold late, the job has misfired, and its misfire policy decides for every time
 * due up to `now`, however young: SKIP fires none, RUN_ONCE fires one (the latest), RUN_ALL
 * fires those within the misfire window, oldest first. Times after `now` up to `until` (the
 * lookahead) are on time. Then the overlap policy, and where the schedule goes next.
 * Pure: the same inputs give the same plan.
 */
export function planFires(due: DueJobState, now: Date, active: ActiveRuns, options: PlanOptions, until: Date = now): FirePlan {
  const { job } = due;
  const schedule = job.schedule!;
  const context = (runCount: number) => ({ createTime: due.createTime, runCount });
  const candidates: Date[] = [];
  const dstSkipped: Date[] = [];
  let last = new Date(due.nextRunTime.getTime() - 1);
  let truncated = false;

  const collect = (from: Date, to: number) => {
    let cursor = from;
    for (;;) {
      if (candidates.length >= options.maxFiresPerPass) {
        truncated = true;
        return;
      }
      const { fire, skipped } = nextFire(schedule, cursor, context(due.runCount + candidates.length));
      const next = fire?.time;
      if (!next || next.getTime() > to || next.getTime() <= cursor.getTime()) return;
      // Stepped over only with a fire taken: a step not taken is taken again by the final one.
      for (const time of skipped) dstSkipped.push(time.time);
      candidates.push(next);
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
  let missed: FireSpan | undefined;
  let catchUps = 0;
  const span = (to: number) => fireSpan(schedule, due.nextRunTime, to, context(due.runCount));
  if (isMisfire(due.nextRunTime, now, options.misfireThresholdMs)) {
    switch (job.misfirePolicy) {
      case MisfirePolicy.RUN_ALL: {
        const windowStart = now.getTime() - misfireWindowMs(job);
        if (due.nextRunTime.getTime() >= windowStart) take(due.nextRunTime);
        else {
          missed = span(windowStart - 1);
          last = new Date(windowStart - 1);
        }
        collect(last, now.getTime());
        break;
      }
      case MisfirePolicy.SKIP:
        missed = span(now.getTime());
        break;
      default: {
        const latest = lastFireTimeBetween(schedule, due.nextRunTime, now, context(due.runCount)) ?? due.nextRunTime;
        if (latest.getTime() > due.nextRunTime.getTime()) missed = span(latest.getTime() - 1);
        take(latest);
      }
    }
    catchUps = candidates.length;
    // Every time due up to now is decided; what follows is on time.
    if (!truncated) last = now;
  } else {
    take(due.nextRunTime);
  }
  if (!truncated) collect(last, until.getTime());

  const { fires, cancelActive } = admitFires(job, active, candidates);
  const runCount = due.runCount + fires.length;
  const following = nextFire(schedule, last, context(runCount));
  for (const time of following.skipped) dstSkipped.push(time.time);
  const next = following.fire?.time;
  const hasNext = next !== undefined && next.getTime() > last.getTime();
  return {
    fires,
    candidates,
    catchUps,
    missed,
    cancelActive,
    skipped: candidates.length - fires.length,
    dstSkipped: dstSkipped.length > 0 ? { first: dstSkipped[0], last: dstSkipped[dstSkipped.length - 1], count: dstSkipped.length } : undefined,
    next: hasNext ? next : null,
    state: hasNext ? JobState.ACTIVE : JobState.COMPLETED,
    runCount,
  };
}

/** The fire times from `first` (itself one) up to `to` (ms, inclusive); undefined when none. */
function fireSpan(schedule: Job["schedule"] & object, first: Date, to: number, context: ScheduleContext): FireSpan | undefined {
  if (first.getTime() > to) return undefined;
  let last = first;
  let count = 1;
  while (count < MAX_COUNTED_FIRES) {
    const next = nextFireTime(schedule, last, context);
    if (!next || next.getTime() > to || next.getTime() <= last.getTime()) break;
    last = next;
    count++;
  }
  // Counted no further, but the last time is still the true last one.
  if (count === MAX_COUNTED_FIRES) last = lastFireTimeBetween(schedule, first, new Date(to), context) ?? last;
  return { first, last, count };
}

/** A fire time more than the threshold old at `now` has been missed (at the threshold it is on time). */
export function isMisfire(fireTime: Date, now: Date, thresholdMs: number): boolean {
  return now.getTime() - fireTime.getTime() > thresholdMs;
}

function misfireWindowMs(job: Job): number {
  return job.misfireWindow ? durationToMs(job.misfireWindow) : JOB_DEFAULTS.misfireWindowMs;
}

/**
 * The fire times a job resuming at `now` did not fire because it was paused: from the one it
 * kept when paused up to `now`, but for those it resumes with (`resumed`, its catch-up runs).
 */
export function missedWhilePaused(job: Job, kept: Date | null, resumed: Date | undefined, now: Date, context: ScheduleContext): FireSpan | undefined {
  if (!kept || kept.getTime() > now.getTime()) return undefined;
  const end = resumed && resumed.getTime() <= now.getTime() ? resumed.getTime() - 1 : now.getTime();
  return fireSpan(job.schedule!, kept, end, context);
}

/**
 * The next fire time a paused job resumes with at `now`, given the one it kept when paused;
 * undefined when its schedule should continue from now (nothing to catch up). A pause's span
 * is known, so every time in it is missed whatever its length (the threshold does not apply):
 * SKIP drops them all, RUN_ONCE keeps the latest (its one catch-up run), RUN_ALL keeps those
 * within the misfire window, from the oldest.
 */
export function resumeNext(job: Job, kept: Date | null, now: Date, context: ScheduleContext): Date | undefined {
  if (!kept) return undefined;
  if (kept.getTime() > now.getTime()) return kept;
  const schedule = job.schedule!;
  switch (job.misfirePolicy) {
    case MisfirePolicy.SKIP:
      return undefined;
    case MisfirePolicy.RUN_ALL: {
      const windowStart = now.getTime() - misfireWindowMs(job);
      if (kept.getTime() >= windowStart) return kept;
      const first = nextFireTime(schedule, new Date(windowStart - 1), context);
      return first && first.getTime() <= now.getTime() ? first : undefined;
    }
    default:
      return lastFireTimeBetween(schedule, kept, now, context) ?? kept;
  }
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
