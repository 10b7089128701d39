// The Schedules view: scheduled functions by state with their arguments and times, cancel
// one that has not finished; and the app's crons with their schedule, last and next run.
import { useState } from "react";
import { useMutation, useQuery } from "convex/react";
import { ConfirmButton, Head, InlineError, Loading, Pager, useAttempt, usePager } from "./common.jsx";
import { api, cellText, formatAge, formatMs, formatTime, num } from "./values.js";

const STATES = [
  ["", "All"],
  ["pending", "Pending"],
  ["inProgress", "Running"],
  ["success", "Succeeded"],
  ["failed", "Failed"],
  ["canceled", "Canceled"],
];

export default function Schedules() {
  const [state, setState] = useState("pending");
  const pager = usePager(state);
  const result = useQuery(api.schedules.list, {
    ...(state ? { state } : {}),
    paginationOpts: { numItems: 25, cursor: pager.cursor },
  });
  const cancel = useMutation(api.schedules.cancel);
  const { error, attempt } = useAttempt();
  return (
    <div className="schedules">
      <section aria-label="Scheduled functions">
        <header className="view-header">
          <h1>Scheduled functions</h1>
        </header>
        <div className="tabs" role="tablist" aria-label="State">
          {STATES.map(([value, label]) => (
            <button key={value} type="button" role="tab" aria-selected={state === value} onClick={() => setState(value)}>{label}</button>
          ))}
        </div>
        <InlineError error={error} />
        {result === undefined ? (
          <Loading what="Loading scheduled functions" />
        ) : result.page.length === 0 ? (
          <p className="empty">No {STATES.find(([v]) => v === state)[1].toLowerCase()} scheduled functions.</p>
        ) : (
          <>
            <table className="grid" aria-label="Scheduled functions">
              <Head names={["Function", "Arguments", "Scheduled for", "State", "Completed", ""]} />
              <tbody>
                {result.page.map((job) => (
                  <tr key={job._id} data-id={job._id}>
                    <td><code>{job.name}</code></td>
                    <td><code>{cellText(job.args[0] ?? {}, 120)}</code></td>
                    <td>{formatTime(job.scheduledTime, true)} <span className="hint">({formatAge(job.scheduledTime)})</span></td>
                    <td className={`state ${job.state.kind}`}>
                      {job.state.kind}
                      {job.state.error && <pre className="message">{job.state.error}</pre>}
                    </td>
                    <td>{job.completedTime ? formatTime(job.completedTime, true) : "–"}</td>
                    <td>
                      {(job.state.kind === "pending" || job.state.kind === "inProgress") && (
                        <ConfirmButton label="Cancel" confirm="Cancel it"
                          onConfirm={() => attempt(() => cancel({ id: job._id }))} />
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
            <Pager pager={pager} result={result} what="scheduled functions" />
          </>
        )}
      </section>
      <Crons />
    </div>
  );
}

function Crons() {
  const crons = useQuery(api.schedules.crons, {});
  return (
    <section aria-label="Crons">
      <h2>Crons</h2>
      {crons === undefined ? (
        <Loading what="Loading crons" />
      ) : crons.length === 0 ? (
        <p className="empty">The app declares no crons (<code>functions/crons.py</code>).</p>
      ) : (
        <table className="grid" aria-label="Crons">
          <Head names={["Name", "Function", "Schedule", "Arguments", "Last run", "Next run"]} />
          <tbody>
            {crons.map((c) => (
              <tr key={c.name} data-cron={c.name}>
                <td>{c.name}</td>
                <td><code>{c.function}</code></td>
                <td>{c.schedule}</td>
                <td><code>{cellText(c.args, 80)}</code></td>
                <td>
                  {c.lastRun ? (
                    <>
                      {formatTime(c.lastRun.startedAt, true)}{" "}
                      {c.lastRun.finishedAt === null
                        ? <span className="state inProgress">running</span>
                        : c.lastRun.error
                          ? <span className="state failed" title={c.lastRun.error}>failed</span>
                          : <span className="state success">ok, {formatMs(num(c.lastRun.finishedAt) - num(c.lastRun.startedAt))}</span>}
                    </>
                  ) : "not since the server started"}
                </td>
                <td>{c.nextRun ? <>{formatTime(c.nextRun, true)} <span className="hint">({formatAge(c.nextRun)})</span></> : "–"}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
