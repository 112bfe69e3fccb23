import { timeTicks } from "../time-axis";

/**
 * Small inline SVG charts: enough to see a trend, no chart library. Each has a text
 * alternative (aria-label) summarising what it shows, and optionally a time axis.
 */

export interface Series {
  label: string;
  values: Array<number | undefined>;
  /** A CSS class giving the stroke or fill colour. */
  tone: string;
}

/** The time the values span: value i covers the i-th of equal slices from start to end. */
export interface TimeSpan {
  startMs: number;
  endMs: number;
}

const W = 600;
const H = 120;
const PAD = 4;

/** Where a fraction (0..1) of the span lies, in the SVG's units. */
const xOf = (fraction: number) => PAD + fraction * (W - PAD * 2);

/**
 * Grid lines in the SVG and labels below it, in local time. The labels are HTML, placed by
 * percentage, since the SVG is stretched to the chart's width (preserveAspectRatio none).
 */
function TimeGrid({ span }: { span: TimeSpan }) {
  return (
    <g className="grid">
      {timeTicks(span.startMs, span.endMs).map((t) => (
        <line key={t.at} x1={xOf(t.x)} x2={xOf(t.x)} y1={PAD} y2={H - PAD} vectorEffect="non-scaling-stroke" />
      ))}
    </g>
  );
}

function TimeLabels({ span }: { span: TimeSpan }) {
  return (
    <div className="time-axis" data-testid="time-axis" aria-hidden="true">
      {timeTicks(span.startMs, span.endMs).map((t) => (
        <span key={t.at} style={{ left: `${(xOf(t.x) / W) * 100}%` }}>
          {t.label}
        </span>
      ))}
    </div>
  );
}

function niceMax(max: number): number {
  if (max <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(max));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= max) return m * p;
  return 10 * p;
}

export function BarChart({ series, title, format = String, span }: { series: Series[]; title: string; format?: (n: number) => string; span?: TimeSpan }) {
  const n = Math.max(...series.map((s) => s.values.length), 1);
  const totals = Array.from({ length: n }, (_, i) => series.reduce((sum, s) => sum + (s.values[i] ?? 0), 0));
  const max = niceMax(Math.max(...totals, 0));
  const bw = (W - PAD * 2) / n;
  const sum = (s: Series) => s.values.reduce<number>((a, b) => a + (b ?? 0), 0);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} ${format(sum(s))} in all`).join(", ")}`}>
        {span && <TimeGrid span={span} />}
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
      {span && <TimeLabels span={span} />}
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

export function LineChart({ series, title, format = String, span }: { series: Series[]; title: string; format?: (n: number) => string; span?: TimeSpan }) {
  const n = Math.max(...series.map((s) => s.values.length), 2);
  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined));
  const max = niceMax(Math.max(...all, 0));
  // On a time axis each value sits at the middle of its slice (as a bar would); else end to end.
  const x = (i: number) => (span ? xOf((i + 0.5) / n) : xOf(i / (n - 1)));
  const y = (v: number) => H - PAD - (v / max) * (H - PAD * 2);
  const last = (s: Series) => [...s.values].reverse().find((v) => v !== undefined);
  return (
    <figure className="chart">
      <svg viewBox={`0 0 ${W} ${H}`} preserveAspectRatio="none" role="img" aria-label={`${title}: ${series.map((s) => `${s.label} latest ${last(s) === undefined ? "none" : format(last(s)!)}`).join(", ")}`}>
        {span && <TimeGrid span={span} />}
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
      {span && <TimeLabels span={span} />}
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
