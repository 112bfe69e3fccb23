import { useCallback, useEffect, useRef, useState, type FormEvent } from "react";
import { onTokenNeeded, setToken, getToken } from "./api";
import { AuthEpoch, ToastContext, type Toast } from "./hooks";
import { href, useRoute, type Route } from "./router";
import { OverviewPage } from "./pages/overview";
import { JobsPage } from "./pages/jobs";
import { JobDetailPage } from "./pages/job-detail";
import { JobFormPage } from "./pages/job-form";
import { LiveRunsPage } from "./pages/live-runs";
import { RunDetailPage } from "./pages/run-detail";
import { QueuesPage } from "./pages/queues";
import { FailuresPage } from "./pages/failures";
import { AlertsPage } from "./pages/alerts";
import { AuditPage } from "./pages/audit";
import { IdSearch } from "./components/id-search";

const NAV: Array<{ label: string; href: string; pages: Route["page"][] }> = [
  { label: "Overview", href: href.overview(), pages: ["overview"] },
  { label: "Jobs", href: href.jobs(), pages: ["jobs", "job", "edit"] },
  { label: "Live runs", href: href.runs(), pages: ["runs", "run"] },
  { label: "Queues", href: href.queues(), pages: ["queues"] },
  { label: "Failures", href: href.failures(), pages: ["failures"] },
  { label: "Alerts", href: href.alerts(), pages: ["alerts"] },
  { label: "Audit", href: href.audit(), pages: ["audit"] },
];

export function App() {
  const route = useRoute();
  const [epoch, setEpoch] = useState(0);
  const [tokenNeeded, setTokenNeeded] = useState(false);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const mainRef = useRef<HTMLElement>(null);

  useEffect(() => onTokenNeeded((needed) => needed && setTokenNeeded(true)), []);
  // A new page (not the first): move focus to its content, as a full page load would.
  const firstRoute = useRef(true);
  useEffect(() => {
    if (firstRoute.current) {
      firstRoute.current = false;
      return;
    }
    mainRef.current?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [route.page, "id" in route ? route.id : ""]);

  const toast = useCallback((text: string, kind: Toast["kind"] = "ok") => {
    const id = Date.now() + Math.random();
    setToasts((t) => [...t.slice(-3), { id, text, kind }]);
    setTimeout(() => setToasts((t) => t.filter((x) => x.id !== id)), kind === "error" ? 8000 : 4000);
  }, []);

  return (
    <AuthEpoch.Provider value={epoch}>
      <ToastContext.Provider value={toast}>
        <a className="skip-link" href="#main" onClick={(e) => (e.preventDefault(), mainRef.current?.focus())}>
          Skip to content
        </a>
        <header className="topbar">
          <a className="brand" href={href.overview()} aria-label="Chime overview">
            <span className="brand-dot" aria-hidden="true" /> Chime
          </a>
          <nav aria-label="Main">
            <ul>
              {NAV.map((item) => (
                <li key={item.href}>
                  <a href={item.href} aria-current={item.pages.includes(route.page) ? "page" : undefined}>
                    {item.label}
                  </a>
                </li>
              ))}
            </ul>
          </nav>
          <IdSearch />
          <a className="button primary new-job" href={href.newJob()} aria-current={route.page === "new" ? "page" : undefined}>
            New job
          </a>
          {getToken() && (
            <button type="button" className="link-button" onClick={() => (setToken(""), setTokenNeeded(true))}>
              Forget token
            </button>
          )}
        </header>
        <main id="main" ref={mainRef} tabIndex={-1}>
          <Page route={route} />
        </main>
        <div className="toasts" role="status" aria-live="polite">
          {toasts.map((t) => (
            <div key={t.id} className={`toast ${t.kind}`}>
              {t.text}
            </div>
          ))}
        </div>
        {tokenNeeded && (
          <TokenDialog
            onSave={(token) => {
              setToken(token);
              setTokenNeeded(false);
              setEpoch((e) => e + 1);
            }}
          />
        )}
      </ToastContext.Provider>
    </AuthEpoch.Provider>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "overview":
      return <OverviewPage range={route.range} namespace={route.namespace} />;
    case "jobs":
      return <JobsPage />;
    case "job":
      return <JobDetailPage key={route.id} id={route.id} />;
    case "new":
      return <JobFormPage key="new" />;
    case "edit":
      return <JobFormPage key={route.id} id={route.id} />;
    case "runs":
      return <LiveRunsPage key={route.jobId ?? ""} jobId={route.jobId} />;
    case "run":
      return <RunDetailPage key={route.id} id={route.id} />;
    case "queues":
      return <QueuesPage />;
    case "failures":
      return <FailuresPage key={route.queue ?? ""} queue={route.queue} />;
    case "alerts":
      return <AlertsPage />;
    case "audit":
      return <AuditPage />;
    default:
      return (
        <section>
          <h1>Not found</h1>
          <p>
            Nothing lives at <code>{route.path}</code>. <a href={href.jobs()}>See the jobs</a>.
          </p>
        </section>
      );
  }
}

/** Asks for the API token the server requires; it is kept in sessionStorage for this tab only. */
function TokenDialog({ onSave }: { onSave(token: string): void }) {
  const [value, setValue] = useState("");
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
  }, []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) onSave(value.trim());
  };
  return (
    <dialog ref={ref} className="dialog" aria-labelledby="token-title" onCancel={(e) => e.preventDefault()}>
      <form onSubmit={submit}>
        <h2 id="token-title">API token</h2>
        <p>This server requires a token. It is kept for this browser tab only (session storage), never in the address.</p>
        <label htmlFor="api-token">Token</label>
        <input id="api-token" type="password" autoComplete="off" autoFocus value={value} onChange={(e) => setValue(e.target.value)} />
        <div className="actions">
          <button type="submit" className="primary" disabled={!value.trim()}>
            Use token
          </button>
        </div>
      </form>
    </dialog>
  );
}
