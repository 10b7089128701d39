// The Logs view: the server's executions as they happen, newest first, filtered by
// function, level and text; each with its duration and request id; one opened in full.
import { useState } from "react";
import { useQuery } from "convex/react";
import { Head, Loading } from "./common.jsx";
import { api, formatMs, formatTime, num } from "./values.js";

const LEVELS = ["ERROR", "WARN", "INFO", "LOG", "DEBUG"];

function levelOf(line) {
  return /^\[(\w+)\]/.exec(line)?.[1] ?? "LOG";
}

export default function Logs() {
  const functions = useQuery(api.functions.list, {});
  const [path, setPath] = useState("");
  const [level, setLevel] = useState("");
  const [text, setText] = useState("");
  const [open, setOpen] = useState(null);
  const result = useQuery(api.logs.recent, {
    ...(path ? { path } : {}),
    ...(level ? { level } : {}),
    ...(text ? { text } : {}),
    limit: 200,
  });
  return (
    <div className="logs">
      <section className="log-list" aria-label="Executions">
        <header className="view-header">
          <h1>Logs</h1>
          <span className="live" aria-label="Live">● live</span>
        </header>
        <form className="toolbar" onSubmit={(e) => e.preventDefault()} aria-label="Log filters">
          <label>
            Function{" "}
            <select value={path} onChange={(e) => setPath(e.target.value)} aria-label="Function">
              <option value="">all</option>
              {(functions ?? []).filter((f) => f.kind !== "httpAction").map((f) => (
                <option key={f.path} value={f.path}>{f.path}</option>
              ))}
            </select>
          </label>
          <label>
            Level{" "}
            <select value={level} onChange={(e) => setLevel(e.target.value)} aria-label="Level">
              <option value="">any</option>
              {LEVELS.map((l) => <option key={l} value={l}>{l === "ERROR" ? "ERROR (and failures)" : l}</option>)}
            </select>
          </label>
          <label>
            Text <input type="search" value={text} onChange={(e) => setText(e.target.value)} aria-label="Text" placeholder="in lines, errors, paths" />
          </label>
        </form>
        {result === undefined ? (
          <Loading what="Loading executions" />
        ) : result.entries.length === 0 ? (
          <p className="empty">No executions{path || level || text ? " match" : " yet"}.</p>
        ) : (
          <table className="grid log-table" aria-label="Executions, newest first">
            <Head names={["Time", "Status", "Function", "Duration", "Request id", "First line"]} />
            <tbody>
              {result.entries.map((e) => (
                <tr key={num(e.seq)} data-seq={num(e.seq)} aria-selected={open?.seq === e.seq} tabIndex={0}
                  onClick={() => setOpen(e)} onKeyDown={(k) => { if (k.key === "Enter") setOpen(e); }}
                  className={e.ok ? undefined : "failed"}>
                  <td>{formatTime(e.timestamp)}</td>
                  <td>{e.ok ? "ok" : "failed"}</td>
                  <td><span className={`kind ${e.kind}`}>{e.kind === "http_action" ? "HTTP" : e.kind[0].toUpperCase()}</span> {e.path}</td>
                  <td>{formatMs(e.durationMs)}</td>
                  <td><code>{e.requestId ?? "–"}</code></td>
                  <td className={`line level-${levelOf(e.logLines[0] ?? "")}`}>{e.logLines[0] ?? (e.error ? e.error.split("\n")[0] : "")}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      {open && <Execution entry={open} onClose={() => setOpen(null)} />}
    </div>
  );
}

function Execution({ entry, onClose }) {
  return (
    <aside className="document execution" aria-label="Execution">
      <header>
        <h2>{entry.path}</h2>
        <button type="button" className="link" onClick={onClose}>Close</button>
      </header>
      <dl className="facts">
        <dt>Status</dt><dd>{entry.ok ? "succeeded" : "failed"}</dd>
        <dt>Kind</dt><dd>{entry.kind}</dd>
        <dt>Finished</dt><dd>{formatTime(entry.timestamp, true)}</dd>
        <dt>Duration</dt><dd>{formatMs(entry.durationMs)}</dd>
        <dt>Request id</dt><dd><code>{entry.requestId ?? "–"}</code></dd>
      </dl>
      {entry.error && (<><h3>Error</h3><pre className="message">{entry.error}</pre></>)}
      <h3>Log lines</h3>
      {entry.logLines.length ? (
        <ol className="log-lines">
          {entry.logLines.map((l, i) => <li key={i} className={`level-${levelOf(l)}`}>{l}</li>)}
        </ol>
      ) : <p className="hint">None.</p>}
    </aside>
  );
}
