/**
 * Small inline SVG charts: enough to see a trend, no chart library. Each has a text
 * alternative (aria-label) summarising what it shows.
 */

export interface Series {
  label: string;
  values: Array<number | undefined>;
  /** A CSS class giving the stroke or fill colour. */
  tone: string;
}

const W = 600;
const H = 120;
const PAD = 4;

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function BarChart({ series, title, format = String }: { series: Series[]; title: string; format?: (n: number) => string }) {
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const totals = Array.from({ length: n }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(...totals, 0));
  const bw = (W - PAD * 2) / n;
  const sum = (s: Series) => s.values.reduce<number>((a, b) => a + (b ?? 0), 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${format(sum(s))} in all`).join(", ")}`}>
        <line x1={0} x2={W} y1={H - PAD} y2={H - PAD} className="axis" />
        {Array.from({ length: n }, (_, i) => {
          let y = H - PAD;
          return series.map((s) => {
            const v = s.values[i] ?? 0;
            if (v <= 0) return null;
            const h = (v / max) * (H - PAD * 2);
            y -= h;
            return <rect key={`${s.label}-${i}`} x={PAD + i * bw + 0.5} y={y} width={Math.max(bw - 1, 0.5)} height={h} className={s.tone} />;
          });
        })}
      </svg>
      <figcaption>
        <span className="scale">max {format(max)}</span>
        {series.map((s) => (
          <span key={s.label} className="legend">
            <i className={s.tone} aria-hidden="true" /> {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}

export function LineChart({ series, title, format = String }: { series: Series[]; title: string; format?: (n: number) => string }) {
  const n = Math.max(...series.map((s) => s.values.length), 2);
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const max = niceMax(Math.max(...all, 0));
  const x = (i: number) => PAD + (i / (n - 1)) * (W - PAD * 2);
  const y = (v: number) => H - PAD - (v / max) * (H - PAD * 2);
  const last = (s: Series) => [...s.values].reverse().find((v) => v !== undefined);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} latest ${last(s) === undefined ? "none" : format(last(s)!)}`).join(", ")}`}>
        <line x1={0} x2={W} y1={H - PAD} y2={H - PAD} className="axis" />
        {series.map((s) => {
          // Gaps (buckets without data) break the line rather than dropping to zero.
          const segments: string[] = [];
          let current = "";
          s.values.forEach((v, i) => {
            if (v === undefined) {
              if (current) segments.push(current);
              current = "";
            } else current += `${current ? "L" : "M"}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
          });
          if (current) segments.push(current);
          // A point with no neighbour draws no line: mark it.
          const lone = s.values.flatMap((v, i) => (v !== undefined && s.values[i - 1] === undefined && s.values[i + 1] === undefined ? [i] : []));
          return (
            <g key={s.label}>
              <path d={segments.join("")} className={`line ${s.tone}`} vectorEffect="non-scaling-stroke" />
              {lone.map((i) => (
                <rect key={i} x={x(i) - 2} y={y(s.values[i]!) - 2} width={4} height={4} className={`dot ${s.tone}`} />
              ))}
            </g>
          );
        })}
      </svg>
      <figcaption>
        <span className="scale">max {format(max)}</span>
        {series.map((s) => (
          <span key={s.label} className="legend">
            <i className={s.tone} aria-hidden="true" /> {s.label}
          </span>
        ))}
      </figcaption>
    </figure>
  );
}
