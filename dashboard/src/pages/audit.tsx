import { useState } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import type { AuditEntry } from "@chime/sdk/gen/admin_service_pb";
import { admin } from "../api";
import { Empty, ErrorNote, TimeCell } from "../components/bits";
import { TableHead } from "../components/table-head";
import { toDate } from "../format";
import { useDebounced, useLoad, useNow } from "../hooks";
import { href } from "../router";
import "../debug-pages.css";

const PAGE_SIZE = 100;

/** One page of the audit log, newest first, and the token of the next (older) one. */
async function loadPage(namespace: string, pageToken: string, signal: AbortSignal) {
  const page = await admin.listAuditEntries({ namespace, pageSize: PAGE_SIZE, pageToken }, { signal, timeoutMs: 10_000 });
  return { entries: page.entries, next: page.nextPageToken };
}

/** Every change made through the API (AdminService.ListAuditEntries): who, what, which target, when, from where. */
export function AuditPage() {
  const now = useNow(1000);
  const [namespace, setNamespace] = useState("");
  const filter = useDebounced(namespace.trim(), 300);
  // The newest page refreshes; older pages, once loaded, stay as they were read.
  const first = useLoad((signal) => loadPage(filter, "", signal), [filter], 5000);
  const [older, setOlder] = useState<{ filter: string; entries: AuditEntry[]; next: string; error?: string }>({ filter: "", entries: [], next: "" });
  const olderOfFilter = older.filter === filter ? older : { filter, entries: [], next: "" };
  const next = olderOfFilter.entries.length ? olderOfFilter.next : (first.data?.next ?? "");
  const entries = [...(first.data?.entries ?? []), ...olderOfFilter.entries.filter((e) => !first.data?.entries.some((f) => f.id === e.id))];
  const code = first.cause instanceof ConnectError ? first.cause.code : undefined;

  const loadOlder = async () => {
    try {
      const page = await loadPage(filter, next, new AbortController().signal);
      setOlder({ filter, entries: [...olderOfFilter.entries, ...page.entries], next: page.next });
    } catch (error) {
      setOlder({ ...olderOfFilter, error: ConnectError.from(error).rawMessage });
    }
  };

  return (
    <section aria-labelledby="audit-title">
      <div className="page-head">
        <h1 id="audit-title">Audit log</h1>
        <p className="muted">Every change made through the API: which key, what, to which job, run, key or namespace, when and from where. Newest first; refreshed every 5 seconds.</p>
      </div>
      <div className="filters">
        <label>
          Namespace{" "}
          <input value={namespace} onChange={(e) => setNamespace(e.target.value)} placeholder="every namespace" aria-label="Namespace" />
        </label>
      </div>
      <ErrorNote>{first.error && problemOf(code, first.error)}</ErrorNote>
      {first.loading && !first.data && <p className="muted">Loading…</p>}
      {first.data && (
        <div className="panel">
          <div className="table-wrap">
            <table className="table audit-table" aria-labelledby="audit-title">
              <TableHead columns={["When", "Action", "Target", "Namespace", "Key", "From"]} />
              <tbody>
                {entries.map((e) => (
                  <tr key={String(e.id)} data-audit={String(e.id)} data-action={e.action}>
                    <td>
                      <TimeCell date={toDate(e.time)} now={now} />
                    </td>
                    <td>
                      <code>{e.action}</code>
                    </td>
                    <td>
                      <Target target={e.target} />
                    </td>
                    <td>{e.namespace || <span className="muted">all</span>}</td>
                    <td>{e.keyId ? <span title={e.keyId}>{e.keyName || e.keyId}</span> : <span className="muted">no key (token or keys off)</span>}</td>
                    <td>
                      <code>{e.address}</code>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
          {entries.length === 0 && <Empty>No changes recorded{filter ? ` in namespace ${filter}` : ""}.</Empty>}
          {next && (
            <button type="button" className="button" onClick={() => void loadOlder()}>
              Older entries
            </button>
          )}
          <ErrorNote>{olderOfFilter.error && `Cannot load older entries: ${olderOfFilter.error}`}</ErrorNote>
        </div>
      )}
    </section>
  );
}

/** Why the log cannot be shown, in words. */
function problemOf(code: Code | undefined, error: string): string {
  if (code === Code.Unimplemented) {
    return "This server requires no API keys, so it serves no AdminService to read the audit log from (changes are recorded all the same). Start it with CHIME_API_TOKEN to read them here.";
  }
  if (code === Code.PermissionDenied) return "The audit log needs an admin key (role admin).";
  return `Cannot load the audit log: ${error}`;
}

/** A target as a link where the dashboard has a page for it ("job/<id>", "run/<id>"). */
function Target({ target }: { target: string }) {
  const [kind, id] = [target.slice(0, target.indexOf("/")), target.slice(target.indexOf("/") + 1)];
  if (kind === "job" && id) return <a href={href.job(id)}>{target}</a>;
  if (kind === "run" && id) return <a href={href.run(id)}>{target}</a>;
  return <code>{target}</code>;
}
