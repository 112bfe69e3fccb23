/** Small helpers shared by the benchmark: clock, sleep, statistics, logging. */

/** Wall-clock milliseconds with sub-millisecond resolution (comparable across processes). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** Sleeps until the wall-clock time `atMs`. */
export function sleepUntil(atMs: number): Promise<void> {
  return sleep(atMs - nowMs());
}

export interface Summary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles (nearest rank) of a list of numbers; the input is sorted in place. */
export function summarize(values: Float64Array | number[]): Summary {
  const sorted = values instanceof Float64Array ? values.sort() : Float64Array.from(values).sort();
  const n = sorted.length;
  if (n === 0) return { count: 0, p50: NaN, p90: NaN, p99: NaN, max: NaN, mean: NaN };
  const at = (q: number) => sorted[Math.min(n - 1, Math.max(0, Math.ceil(q * n) - 1))];
  let sum = 0;
  for (let i = 0; i < n; i++) sum += sorted[i];
  return { count: n, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: sorted[n - 1], mean: sum / n };
}

export function log(message: string): void {
  const t = new Date().toISOString().slice(11, 23);
  process.stderr.write(`[bench ${t}] ${message}\n`);
}

/** Rounds for display: 3 significant-ish digits. */
export function fmt(value: number | undefined | null, unit = ""): string {
  if (value === undefined || value === null || Number.isNaN(value)) return "–";
  const abs = Math.abs(value);
  const text = abs >= 100 ? value.toFixed(0) : abs >= 10 ? value.toFixed(1) : value.toFixed(2);
  return `${text}${unit}`;
}

export function randomId(length = 6): string {
  let id = "";
  while (id.length < length) id += Math.random().toString(36).slice(2);
  return id.slice(0, length);
}

/** Runs `work` over `items` with at most `limit` at once. */
export async function mapLimit<T, R>(items: T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const index = next++;
        results[index] = await work(items[index], index);
      }
    }),
  );
  return results;
}
