import { create } from "@bufbuild/protobuf";
import { timestampFromDate, type Duration } from "@bufbuild/protobuf/wkt";
import { DstGapPolicy, DstRepeatPolicy, ScheduleSchema, type Schedule } from "./gen/chime/v1/schedule_pb.js";

/** Bounds shared by every schedule kind. */
export interface ScheduleBounds {
  startTime?: Date;
  endTime?: Date;
  /** Stop after this many scheduled runs. */
  maxRuns?: number;
}

/**
 * What a cron time does on daylight-saving changes (chime.v1.DstGapPolicy and DstRepeatPolicy):
 * in a spring-forward gap, fire shifted by the gap (default) or skip it; in a fall-back repeat,
 * fire at the first occurrence (default) or at both.
 */
export interface DstSpec {
  dstGap?: "shift" | "skip";
  dstRepeat?: "first" | "both";
}

/** A schedule as plain values: `"immediate"`, `{ at }`, `{ cron, timeZone?, dstGap?, dstRepeat? }` or `{ every, anchor? }`. */
export type ScheduleSpec =
  | "immediate"
  | ({ immediate: true } & ScheduleBounds)
  | ({ at: Date } & ScheduleBounds)
  | ({ cron: string; timeZone?: string } & DstSpec & ScheduleBounds)
  | ({ every: DurationSpec; anchor?: Date } & ScheduleBounds);

/** Milliseconds, or a string such as "250ms", "5s", "1m30s", "2h", "1d". */
export type DurationSpec = number | string;

const DST_GAP = { shift: DstGapPolicy.SHIFT, skip: DstGapPolicy.SKIP } as const;
const DST_REPEAT = { first: DstRepeatPolicy.FIRST, both: DstRepeatPolicy.BOTH } as const;

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(spec: DurationSpec): number {
  if (typeof spec === "number") return spec;
  const parts = [...spec.trim().matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h|d)/g)];
  if (parts.length === 0 || parts.map((p) => p[0]).join("") !== spec.trim().replace(/\s+/g, "")) {
    throw new Error(`invalid duration ${JSON.stringify(spec)}: expected e.g. "500ms", "5s", "1m30s", "2h"`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * UNIT_MS[unit], 0);
}

export function durationFromMs(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return { $typeName: "google.protobuf.Duration", seconds: BigInt(seconds), nanos: Math.round((ms - seconds * 1000) * 1e6) };
}

export function toSchedule(spec: ScheduleSpec): Schedule {
  if (spec === "immediate") return create(ScheduleSchema, { kind: { case: "immediate", value: {} } });
  const schedule = create(ScheduleSchema, {
    startTime: spec.startTime ? timestampFromDate(spec.startTime) : undefined,
    endTime: spec.endTime ? timestampFromDate(spec.endTime) : undefined,
    maxRuns: spec.maxRuns !== undefined ? BigInt(spec.maxRuns) : 0n,
  });
  if ("immediate" in spec) schedule.kind = { case: "immediate", value: { $typeName: "chime.v1.Immediate" } };
  else if ("at" in spec) schedule.kind = { case: "at", value: { $typeName: "chime.v1.At", time: timestampFromDate(spec.at) } };
  else if ("cron" in spec) {
    schedule.kind = {
      case: "cron",
      value: {
        $typeName: "chime.v1.Cron",
        expression: spec.cron,
        timeZone: spec.timeZone ?? "",
        dstGap: spec.dstGap ? DST_GAP[spec.dstGap] : DstGapPolicy.UNSPECIFIED,
        dstRepeat: spec.dstRepeat ? DST_REPEAT[spec.dstRepeat] : DstRepeatPolicy.UNSPECIFIED,
      },
    };
  } else if ("every" in spec) {
    schedule.kind = {
      case: "interval",
      value: {
        $typeName: "chime.v1.Interval",
        every: durationFromMs(parseDuration(spec.every)),
        anchor: spec.anchor ? timestampFromDate(spec.anchor) : undefined,
      },
    };
  }
  return schedule;
}
