import { msUntil, refill, type Bucket, type BucketLimit } from "../util/token-bucket.js";

/** What a pass claims of one rate-limited namespace's due jobs. */
export interface NamespaceClaim {
  namespace: string;
  /**
   * Due jobs to claim: one per whole token, and one more, which is not fired, so that the
   * pass learns whether the namespace has fires left waiting. At most `maxClaim` + 1.
   */
  claim: number;
}

/** A namespace's bucket, and since when it has had due fires waiting for tokens. */
interface NamespaceState {
  limit: BucketLimit;
  bucket: Bucket;
  /** The first pass of the current wait: every pass since left some of its due fires waiting. */
  waitingSince?: number;
  /** The latest pass that left due fires waiting (those due by then that it did not fire). */
  lastWaitingAt?: number;
}

/**
 * Most passes a second that wake only for a namespace's new tokens: the leader waits for a
 * tenth of a second's worth (at least one token), not for each one.
 */
const TOKEN_WAKES_PER_SECOND = 10;

/**
 * The leader's fire-rate buckets (NamespaceLimits.runs_per_second and run_burst), one per
 * rate-limited namespace, on the leader's clock (ms). A fire takes a token when its run is
 * created; a namespace without tokens leaves its due fires waiting (they stay due, with their
 * next fire time unchanged) until a later pass. The state lives in the leader's memory only: a
 * new leader starts with full buckets and does not know how long fires waited before it (a
 * failover may let a burst through, and its misfire judgement sees plain lateness). Pure but
 * for its state: the clock is passed in.
 */
export function createFireRate(options: { maxClaim: number }) {
  const states = new Map<string, NamespaceState>();
  const tokensOf = (namespace: string) => {
    const state = states.get(namespace);
    return state ? Math.floor(state.bucket.tokens) : Infinity;
  };
  const wasThrottled = (namespace: string, scheduled: number) => {
    const last = states.get(namespace)?.lastWaitingAt;
    return last !== undefined && scheduled <= last;
  };
  return {
    /**
     * This pass's claims, one per rate-limited namespace in `limits` (a namespace no longer
     * limited is forgotten). Every limited namespace is claimed, even with no token, to learn
     * whether it has fires waiting.
     */
    claims(limits: Map<string, BucketLimit>, now: number): NamespaceClaim[] {
      for (const namespace of states.keys()) if (!limits.has(namespace)) states.delete(namespace);
      const claims: NamespaceClaim[] = [];
      for (const [namespace, limit] of limits) {
        const state = states.get(namespace);
        const bucket = refill(state?.bucket, limit, now);
        if (state) Object.assign(state, { limit, bucket });
        else states.set(namespace, { limit, bucket });
        claims.push({ namespace, claim: Math.min(Math.floor(bucket.tokens), options.maxClaim) + 1 });
      }
      return claims;
    },

    /** Whole tokens the namespace has (Infinity when it is not limited). */
    tokens: tokensOf,

    /**
     * One pass's use of the buckets, at `now` (after `claims`): the due jobs it admits and the
     * fires they take. Nothing changes until `commit`, called once the pass's transaction has
     * committed; a pass that fails leaves the buckets as they were.
     */
    pass(now: number) {
      const taken = new Map<string, number>();
      const leftWaiting = new Set<string>();
      const throttled = new Map<string, number>();
      return {
        /**
         * Fires the namespace's next due job may take (Infinity when it is not limited). Below
         * one, the job is left due, and the namespace has fires waiting.
         */
        admit(namespace: string): number {
          const tokens = tokensOf(namespace) - (taken.get(namespace) ?? 0);
          if (tokens < 1) leftWaiting.add(namespace);
          return tokens;
        },
        /** An admitted job's fires (scheduled times, ms), and whether it is still due after them. */
        fired(namespace: string, scheduled: number[], stillDue: boolean): void {
          taken.set(namespace, (taken.get(namespace) ?? 0) + scheduled.length);
          const waited = scheduled.filter((time) => wasThrottled(namespace, time)).length;
          if (waited) throttled.set(namespace, (throttled.get(namespace) ?? 0) + waited);
          if (stillDue) leftWaiting.add(namespace);
        },
        /** Takes the fires' tokens and records which namespaces wait; returns the fires that had waited, by namespace. */
        commit(): Map<string, number> {
          for (const [namespace, state] of states) {
            state.bucket.tokens = Math.max(0, state.bucket.tokens - (taken.get(namespace) ?? 0));
            if (leftWaiting.has(namespace)) {
              state.waitingSince ??= now;
              state.lastWaitingAt = now;
            } else {
              state.waitingSince = undefined;
              state.lastWaitingAt = undefined;
            }
          }
          return throttled;
        },
      };
    },

    /**
     * How long a fire due at `due` has waited only for its namespace's tokens, as of `now`:
     * since it fell due, or since the wait began if it was due before (then it was already
     * late for another reason, and that lateness still counts). The misfire threshold is
     * stretched by this, so a throttled fire is never judged a misfire for its wait.
     */
    waitedMs(namespace: string, due: number, now: number): number {
      const since = states.get(namespace)?.waitingSince;
      return since === undefined ? 0 : Math.max(0, now - Math.max(due, since));
    },

    /** Whether a fire scheduled at `scheduled` was left waiting by an earlier pass (it was due at one that throttled). */
    wasThrottled,

    /**
     * The namespaces with fires waiting for tokens, and when the first of them has a tenth of a
     * second's worth (at least one token, at most its burst): when to wake for them.
     */
    waiting(now: number): { namespaces: string[]; until?: number } {
      const namespaces: string[] = [];
      let until: number | undefined;
      for (const [namespace, state] of states) {
        if (state.waitingSince === undefined) continue;
        namespaces.push(namespace);
        const { limit } = state;
        const enough = Math.min(limit.burst, Math.max(1, limit.perSecond / TOKEN_WAKES_PER_SECOND));
        const at = now + msUntil(refill({ ...state.bucket }, limit, now), limit, enough);
        if (until === undefined || at < until) until = at;
      }
      return { namespaces, until };
    },
  };
}

export type FireRate = ReturnType<typeof createFireRate>;
