/** One measured (or skipped) cell of the benchmark: a system in a workload variant. */
export interface Result {
  workload: string;
  /** e.g. "N=10000", "R=5000/s". */
  variant: string;
  system: "chime" | "graphile-worker" | "pg-boss";
  /** Figures by name; units are in the names (…Ms, …PerSec, …Bytes, …Pct). */
  figures: Record<string, number | string | null>;
  /** How the system was driven (consumer kind, settings). */
  notes: string[];
  /** A figure split by part (e.g. row writes per run by table). */
  breakdown?: Record<string, number>;
  error?: string;
}

export interface TargetCheck {
  target: string;
  /** "met", "not met", "not measured". */
  status: string;
  detail: string;
}

export class Results {
  readonly rows: Result[] = [];
  readonly targets: TargetCheck[] = [];
  readonly skipped: Array<{ workload: string; reason: string }> = [];
  readonly settings: Record<string, unknown> = {};

  add(result: Result): Result {
    this.rows.push(result);
    return result;
  }

  of(workload: string, system?: Result["system"], variant?: string): Result[] {
    return this.rows.filter((r) => r.workload === workload && (!system || r.system === system) && (!variant || r.variant === variant));
  }
}
