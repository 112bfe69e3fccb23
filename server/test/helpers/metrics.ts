/**
 * A metric's value from a server's /metrics page (Prometheus text): the sum of its series whose
 * labels include `labels` (0 when none has been recorded yet), or NaN when the server does not
 * export the metric at all. A histogram's `_count` and `_sum` are read the same way.
 */
export async function readMetric(httpUrl: string, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${httpUrl}/metrics`)).text();
  // A histogram's _count and _sum series are typed under the histogram's own name.
  const typed = name.replace(/_(count|sum|bucket)$/, "");
  let exported = false;
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(`# TYPE ${name} `) || line.startsWith(`# TYPE ${typed} histogram`)) exported = true;
    if (!line.startsWith(name)) continue;
    const match = /^([a-z_]+)(\{[^}]*\})? ([0-9.e+-]+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    if (Object.entries(labels).every(([k, v]) => (match[2] ?? "").includes(`${k}="${v}"`))) total += Number(match[3]);
  }
  return exported ? total : NaN;
}
