import { useEffect, useState, type FormEvent } from "react";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorMessage, jobs } from "../api";
import { href, navigate } from "../router";
import "../debug-pages.css";

/** Run and job ids are UUIDs: anything else cannot name either, so it is refused without a call. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const notFound = (result: PromiseSettledResult<unknown>) => result.status === "rejected" && ConnectError.from(result.reason).code === Code.NotFound;

/**
 * Where an id leads (its run's page, or its job's), or why it leads nowhere. Both are
 * looked up at once, since an id alone does not say which it is.
 */
async function resolveId(id: string): Promise<{ to: string } | { problem: string }> {
  if (!UUID.test(id)) return { problem: `"${id}" is not a run or job id (they look like 0b6f…-…).` };
  const [run, job] = await Promise.allSettled([jobs.getRun({ id }, { timeoutMs: 10_000 }), jobs.getJob({ id }, { timeoutMs: 10_000 })]);
  if (run.status === "fulfilled" && run.value.run) return { to: href.run(id) };
  if (job.status === "fulfilled" && job.value.job) return { to: href.job(id) };
  if (notFound(run) && notFound(job)) return { problem: `No run or job has the id ${id}.` };
  const failed = [run, job].find((r): r is PromiseRejectedResult => r.status === "rejected" && !notFound(r));
  return { problem: `Cannot look up ${id}: ${errorMessage(failed?.reason)}` };
}

/** The header's search box: a run id opens its run page, a job id its job page. */
export function IdSearch() {
  const [value, setValue] = useState("");
  const [message, setMessage] = useState("");
  const [busy, setBusy] = useState(false);
  // The box and its message are about the last search: another page makes them stale.
  useEffect(() => {
    const clear = () => (setMessage(""), setValue(""));
    window.addEventListener("hashchange", clear);
    return () => window.removeEventListener("hashchange", clear);
  }, []);
  const submit = async (event: FormEvent) => {
    event.preventDefault();
    const id = value.trim();
    if (!id) return;
    setBusy(true);
    const found = await resolveId(id);
    setBusy(false);
    if ("problem" in found) return setMessage(found.problem);
    setValue("");
    navigate(found.to);
  };
  return (
    <form className="id-search" role="search" aria-label="Find a run or job by id" onSubmit={(e) => void submit(e)}>
      <label htmlFor="id-search" className="visually-hidden">
        Run or job id
      </label>
      <input
        id="id-search"
        type="search"
        placeholder="Run or job id"
        value={value}
        aria-describedby={message ? "id-search-message" : undefined}
        onChange={(e) => (setValue(e.target.value), setMessage(""))}
      />
      <button type="submit" disabled={busy || !value.trim()}>
        Go
      </button>
      {message && (
        <p id="id-search-message" className="search-message error-note" role="alert">
          {message}
        </p>
      )}
    </form>
  );
}
