import { invalidArgument } from "./errors.js";

/** One term of a label selector: key=value, key!=value, key (present) or !key (absent). */
export type LabelTerm =
  | { kind: "equals"; key: string; value: string }
  | { kind: "notEquals"; key: string; value: string }
  | { kind: "exists"; key: string }
  | { kind: "notExists"; key: string };

const KEY = /^[A-Za-z0-9]([A-Za-z0-9._/-]{0,61}[A-Za-z0-9])?$/;

export function parseLabelSelector(selector: string, field = "label_selector"): LabelTerm[] {
  const terms: LabelTerm[] = [];
  for (const raw of selector.split(",").map((t) => t.trim()).filter(Boolean)) {
    let term: LabelTerm;
    const notEquals = raw.indexOf("!=");
    const equals = raw.indexOf("=");
    if (notEquals > 0) term = { kind: "notEquals", key: raw.slice(0, notEquals).trim(), value: raw.slice(notEquals + 2).trim() };
    else if (equals > 0) term = { kind: "equals", key: raw.slice(0, equals).trim(), value: raw.slice(equals + 1).replace(/^=/, "").trim() };
    else if (raw.startsWith("!")) term = { kind: "notExists", key: raw.slice(1).trim() };
    else term = { kind: "exists", key: raw };
    if (!KEY.test(term.key)) {
      throw invalidArgument(`${field}: ${JSON.stringify(raw.slice(0, 80))} is not key=value, key!=value, key or !key`);
    }
    terms.push(term);
  }
  return terms;
}

/** SQL conditions on a jsonb `labels` column; parameters are appended to `params`. */
export function labelConditions(terms: LabelTerm[], column: string, params: unknown[]): string[] {
  return terms.map((term) => {
    switch (term.kind) {
      case "equals":
        params.push(JSON.stringify({ [term.key]: term.value }));
        return `${column} @> $${params.length}::jsonb`;
      case "notEquals":
        params.push(JSON.stringify({ [term.key]: term.value }));
        return `NOT ${column} @> $${params.length}::jsonb`;
      case "exists":
        params.push(term.key);
        return `${column} ? $${params.length}`;
      case "notExists":
        params.push(term.key);
        return `NOT ${column} ? $${params.length}`;
    }
  });
}

/** Whether a label map matches every term (used by live filters in memory). */
export function labelsMatch(terms: LabelTerm[], labels: Record<string, string>): boolean {
  return terms.every((term) => {
    const has = Object.hasOwn(labels, term.key);
    switch (term.kind) {
      case "equals":
        return has && labels[term.key] === term.value;
      case "notEquals":
        return !has || labels[term.key] !== term.value;
      case "exists":
        return has;
      case "notExists":
        return !has;
    }
  });
}
