import { ScheduleEventReason, type ScheduleEvent } from "@chime/sdk/gen/watch_service_pb";
import { jobs } from "../api";
import { Empty, ErrorNote, TimeCell } from "./bits";
import { formatTime, toDate } from "../format";
import { useLoad } from "../hooks";

/** The most events one page of ListScheduleEvents returns; the newest of them are shown. */
const EVENTS_PAGE = 1000;
const SHOWN = 20;

/** What each reason means, in a user's words. */
const REASON_WORDS: Record<ScheduleEventReason, string> = {
  [ScheduleEventReason.UNSPECIFIED]: "Unknown",
  [ScheduleEventReason.OVERLAP_SKIPPED]: "Skipped: a run was still active (overlap policy)",
  [ScheduleEventReason.BUFFERED]: "Buffered until the active run ends",
  [ScheduleEventReason.MISSED]: "Missed while the scheduler was down (misfire policy)",
  [ScheduleEventReason.CAUGHT_UP]: "Caught up late (misfire policy)",
  [ScheduleEventReason.LATE]: "Dispatched later than max lag",
  [ScheduleEventReason.DST_SKIPPED]: "Skipped by the daylight saving time policy",
  [ScheduleEventReason.PAUSED]: "Not fired: the job was paused",
};

function times(event: ScheduleEvent): string {
  const first = formatTime(toDate(event.firstScheduledTime));
  return event.count === 1 ? first : `${event.count} times, ${first} – ${formatTime(toDate(event.lastScheduledTime))}`;
}

/** The job page's "why didn't it run?" panel: its latest schedule events, newest first. */
export function ScheduleEventsPanel({ jobId, now }: { jobId: string; now: number }) {
  const events = useLoad(async (signal) => jobs.listScheduleEvents({ jobId, pageSize: EVENTS_PAGE }, { signal, timeoutMs: 10_000 }), [jobId], 5000);
  const shown = events.data ? events.data.events.slice(-SHOWN).reverse() : [];
  return (
    <div className="panel" data-testid="schedule-events">
      <div className="panel-head">
        <h2 id="schedule-events-title">Schedule events</h2>
        <span className="muted small">why a fire time did not run on time · newest first</span>
      </div>
      <ErrorNote>{events.error && `Cannot load schedule events: ${events.error}`}</ErrorNote>
      {events.data && shown.length === 0 && <Empty>Every fire time ran on time.</Empty>}
      {shown.length > 0 && (
        <table className="table" aria-labelledby="schedule-events-title">
          <thead>
            <tr>
              <th scope="col">Decided</th>
              <th scope="col">Reason</th>
              <th scope="col">Fire times</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((event) => (
              <tr key={event.resumeToken}>
                <td>
                  <TimeCell date={toDate(event.time)} now={now} />
                </td>
                <td>{REASON_WORDS[event.reason] ?? REASON_WORDS[ScheduleEventReason.UNSPECIFIED]}</td>
                <td>{times(event)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
