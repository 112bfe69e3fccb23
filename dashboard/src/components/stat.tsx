/** One figure on a card: a label, the value, and an optional hint below. */
export function Stat({ label, value, hint, tone, testId }: { label: string; value: string; hint?: string; tone?: string; testId?: string }) {
  return (
    <div className="stat" data-testid={testId}>
      <div className="stat-label">{label}</div>
      <div className={`stat-value ${tone ?? ""}`}>{value}</div>
      {hint && <div className="muted small">{hint}</div>}
    </div>
  );
}
