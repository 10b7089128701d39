// The Functions view: every function of the app with its kind, visibility and argument
// validator; its calls, errors and p50/p99 over the last hour; and a form that runs it
// with JSON arguments, as the admin or as a user identity, showing result, logs and time.
import { useState } from "react";
import { useAction, useMutation, useQuery } from "convex/react";
import { Chart, InlineError, Json, Loading, useAttempt } from "./common.jsx";
import { api, formatMs, formatTime, num, typedValue, validatorText } from "./values.js";

const KIND_LABELS = { query: "query", mutation: "mutation", action: "action", httpAction: "HTTP action" };

export default function Functions({ arg }) {
  const list = useQuery(api.functions.list, {});
  const stats = useQuery(api.functions.stats, {});
  if (list === undefined) return <Loading what="Loading functions" />;
  const byPath = new Map((stats?.functions ?? []).map((s) => [s.path, s]));
  const selected = list.find((f) => f.path === arg) ?? list[0];
  const modules = new Map();
  for (const fn of list) {
    const module = fn.kind === "httpAction" ? "HTTP routes" : fn.path.split(":")[0];
    if (!modules.has(module)) modules.set(module, []);
    modules.get(module).push(fn);
  }
  return (
    <div className="functions">
      <aside className="function-list" aria-label="Functions">
        {[...modules].map(([module, fns]) => (
          <section key={module}>
            <h2>{module}</h2>
            <ul>
              {fns.map((fn) => {
                const s = byPath.get(fn.path);
                return (
                  <li key={fn.path}>
                    <a href={`#/functions/${encodeURIComponent(fn.path)}`} aria-current={fn === selected ? "page" : undefined}>
                      <span className="name">{fn.kind === "httpAction" ? fn.path : fn.path.split(":")[1]}</span>
                      <span className={`kind ${fn.kind}`}>{KIND_LABELS[fn.kind]}</span>
                      {fn.visibility === "internal" && <span className="badge">internal</span>}
                      {s && <span className="count" title="calls in the last hour">{num(s.calls)}</span>}
                    </a>
                  </li>
                );
              })}
            </ul>
          </section>
        ))}
        {stats && (
          <p className="hint">
            Counted since {stats.since ? formatTime(stats.since) : "now"}, while a dashboard is open (starting with the
            2,000 most recent executions){num(stats.missed) ? `; ${num(stats.missed)} executions went by uncounted` : ""}.
          </p>
        )}
      </aside>
      {selected ? <FunctionDetail key={selected.path} fn={selected} stats={byPath.get(selected.path)} /> : <p>No functions.</p>}
    </div>
  );
}

function FunctionDetail({ fn, stats }) {
  const series = stats?.series ?? [];
  const points = (key) => series.map((p) => ({ t: num(p.t), value: p[key] === null ? null : num(p[key]) }));
  return (
    <section className="function-detail" aria-label={`Function ${fn.path}`}>
      <header className="view-header">
        <h1>{fn.path}</h1>
        <span className={`kind ${fn.kind}`}>{KIND_LABELS[fn.kind]}</span>
        <span className="badge">{fn.visibility}</span>
      </header>
      <div className="stats-summary">
        <span>Last hour: <strong>{stats ? num(stats.calls) : 0}</strong> calls</span>
        <span><strong>{stats ? num(stats.errors) : 0}</strong> errors</span>
        <span>p50 <strong>{stats ? formatMs(stats.p50) : "–"}</strong></span>
        <span>p99 <strong>{stats ? formatMs(stats.p99) : "–"}</strong></span>
      </div>
      <div className="charts">
        <Chart points={points("calls")} label="Calls per minute" />
        <Chart points={points("errors")} label="Errors per minute" />
        <Chart points={points("p50")} label="p50 duration" format={formatMs} />
        <Chart points={points("p99")} label="p99 duration" format={formatMs} />
      </div>
      {fn.kind !== "httpAction" && (
        <>
          <h2>Arguments</h2>
          <pre className="validator">{fn.args ? validatorText(fn.args) : "not validated (any object)"}</pre>
          {fn.returns && (
            <>
              <h2>Returns</h2>
              <pre className="validator">{validatorText(fn.returns)}</pre>
            </>
          )}
          <RunForm fn={fn} />
        </>
      )}
      {fn.kind === "httpAction" && <p className="hint">HTTP actions run when their route is requested; handler {fn.handler}.</p>}
    </section>
  );
}

function RunForm({ fn }) {
  const run = useAction(api.functions.run);
  const [argsText, setArgsText] = useState("{}");
  const [actAs, setActAs] = useState("admin");
  const [identityText, setIdentityText] = useState('{"subject": "user-1", "issuer": "https://example.com"}');
  const schedule = useMutation(api.functions.schedule);
  const [delayS, setDelayS] = useState("60");
  const [result, setResult] = useState(null);
  const [scheduled, setScheduled] = useState(null);
  const { error, busy, attempt } = useAttempt();
  const submit = (event) => {
    event.preventDefault();
    attempt(async () => {
      setResult(null);
      setScheduled(null);
      const args = typedValue(argsText, "The arguments are not a value");
      const identity = actAs === "identity" ? typedValue(identityText, "The identity is not JSON") : undefined;
      setResult(await run({ path: fn.path, args, ...(identity ? { identity } : {}) }));
    });
  };
  const later = () => attempt(async () => {
    setResult(null);
    setScheduled(null);
    const args = typedValue(argsText, "The arguments are not a value");
    const seconds = Number(delayS);
    if (!Number.isFinite(seconds) || seconds < 0) throw new Error("The delay must be a number of seconds, 0 or more.");
    setScheduled(await schedule({ path: fn.path, args, delayMs: seconds * 1000 }));
  });
  return (
    <form className="run" onSubmit={submit} aria-label="Run the function">
      <h2>Run {fn.kind === "query" ? "this query" : fn.kind === "mutation" ? "this mutation" : "this action"}</h2>
      <label htmlFor="run-args">Arguments (JSON; int64 as 42n)</label>
      <textarea id="run-args" rows={5} value={argsText} onChange={(e) => setArgsText(e.target.value)} spellCheck={false} />
      <fieldset>
        <legend>Run as</legend>
        <label><input type="radio" name="act-as" value="admin" checked={actAs === "admin"} onChange={() => setActAs("admin")} /> the admin (no user identity)</label>
        <label><input type="radio" name="act-as" value="identity" checked={actAs === "identity"} onChange={() => setActAs("identity")} /> a user identity</label>
        {actAs === "identity" && (
          <textarea aria-label="Identity (subject, issuer and any claims)" rows={3} value={identityText}
            onChange={(e) => setIdentityText(e.target.value)} spellCheck={false} />
        )}
      </fieldset>
      <div className="run-buttons">
        <button type="submit" className="primary" disabled={busy}>{busy ? "Running…" : "Run"}</button>
        {fn.kind !== "query" && (
          <span className="later">
            or run it in{" "}
            <input type="number" min="0" step="any" value={delayS} onChange={(e) => setDelayS(e.target.value)}
              aria-label="Delay in seconds" /> s{" "}
            <button type="button" onClick={later} disabled={busy}>Schedule</button>
            <span className="hint"> (scheduled functions run without a user identity)</span>
          </span>
        )}
      </div>
      <InlineError error={error} />
      {scheduled && (
        <p className="run-result ok" role="status">
          Scheduled as <code>{scheduled}</code>: see <a href="#/schedules">Schedules</a>.
        </p>
      )}
      {result && (
        <div className={`run-result ${result.ok ? "ok" : "failed"}`} role="status" aria-label="Result">
          <p>
            <strong>{result.ok ? "Succeeded" : "Failed"}</strong> in <span className="duration">{formatMs(result.durationMs)}</span>
          </p>
          {result.ok ? <Json value={result.value} className="value" /> : <pre className="message">{result.error}</pre>}
          {result.errorData !== undefined && (<><h3>Error data</h3><Json value={result.errorData} /></>)}
          <h3>Log lines</h3>
          {result.logLines.length ? (
            <ol className="log-lines">{result.logLines.map((l, i) => <li key={i}>{l}</li>)}</ol>
          ) : <p className="hint">None.</p>}
        </div>
      )}
    </form>
  );
}
