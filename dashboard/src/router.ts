import { useEffect, useState } from "react";

/**
 * Hash routes (#/jobs/42), so the server needs no knowledge of the page's paths and
 * none can collide with an RPC path.
 */
export type Route =
  | { page: "overview"; range?: string; namespace?: string }
  | { page: "jobs" }
  | { page: "job"; id: string }
  | { page: "new" }
  | { page: "edit"; id: string }
  | { page: "runs"; jobId?: string }
  | { page: "run"; id: string }
  | { page: "queues" }
  | { page: "failures"; queue?: string }
  | { page: "alerts" }
  | { page: "audit" }
  | { page: "not-found"; path: string };

export function parseRoute(hash: string): Route {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(query);
  if (parts.length === 0) return { page: "overview", range: params.get("range") ?? undefined, namespace: params.get("namespace") ?? undefined };
  if (parts[0] === "jobs") {
    if (parts.length === 1) return { page: "jobs" };
    if (parts[1] === "new" && parts.length === 2) return { page: "new" };
    if (parts.length === 2) return { page: "job", id: parts[1] };
    if (parts.length === 3 && parts[2] === "edit") return { page: "edit", id: parts[1] };
  }
  if (parts[0] === "runs" && parts.length === 1) return { page: "runs", jobId: params.get("job") ?? undefined };
  if (parts[0] === "runs" && parts.length === 2) return { page: "run", id: parts[1] };
  if (parts.length === 1 && parts[0] === "queues") return { page: "queues" };
  if (parts.length === 1 && parts[0] === "alerts") return { page: "alerts" };
  if (parts.length === 1 && parts[0] === "audit") return { page: "audit" };
  if (parts.length === 1 && parts[0] === "failures") return { page: "failures", queue: params.get("queue") ?? undefined };
  return { page: "not-found", path };
}

export const href = {
  /** The overview, with its range (e.g. "6h") and namespace filter when set. */
  overview: (view: { range?: string; namespace?: string } = {}) => {
    const query = new URLSearchParams(Object.entries(view).filter((e): e is [string, string] => Boolean(e[1]))).toString();
    return query ? `#/?${query}` : "#/";
  },
  jobs: () => "#/jobs",
  job: (id: string) => `#/jobs/${encodeURIComponent(id)}`,
  newJob: () => "#/jobs/new",
  edit: (id: string) => `#/jobs/${encodeURIComponent(id)}/edit`,
  runs: (jobId?: string) => (jobId ? `#/runs?job=${encodeURIComponent(jobId)}` : "#/runs"),
  run: (id: string) => `#/runs/${encodeURIComponent(id)}`,
  queues: () => "#/queues",
  alerts: () => "#/alerts",
  audit: () => "#/audit",
  failures: (queue?: string) => (queue ? `#/failures?queue=${encodeURIComponent(queue)}` : "#/failures"),
};

export function navigate(to: string): void {
  window.location.hash = to.replace(/^#/, "");
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(window.location.hash));
  useEffect(() => {
    const update = () => setRoute(parseRoute(window.location.hash));
    window.addEventListener("hashchange", update);
    return () => window.removeEventListener("hashchange", update);
  }, []);
  return route;
}
