// Small shared pieces: error boundary, connection banner, charts, JSON blocks, pagers.
import { Component, useState } from "react";
import { useConvexConnectionState } from "convex/react";
import { errorText, formatTime, formatValue } from "./values.js";

/** Catches a failed query (useQuery throws) and shows the server's message, with a retry. */
export class ErrorBoundary extends Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidUpdate(previous) {
    if (this.state.error && previous.resetKey !== this.props.resetKey) this.setState({ error: null });
  }
  render() {
    if (this.state.error) {
      return (
        <div className="notice error" role="alert">
          <p><strong>{this.props.what ?? "This view"} could not be loaded.</strong></p>
          <pre className="message">{errorText(this.state.error)}</pre>
          <button type="button" onClick={() => this.setState({ error: null })}>Try again</button>
        </div>
      );
    }
    return this.props.children;
  }
}

export function ConnectionBanner() {
  const state = useConvexConnectionState();
  if (state.isWebSocketConnected || !state.hasEverConnected) return null;
  return <p className="notice warning" role="status">Connection to the server lost. Reconnecting… (what you see may be out of date)</p>;
}

export function Loading({ what = "Loading" }) {
  return <p className="loading" role="status">{what}…</p>;
}

export function Json({ value, className = "" }) {
  return <pre className={`json ${className}`}>{formatValue(value, 2)}</pre>;
}

/** A table's header row; an empty name is a column of buttons, named for screen readers only. */
export function Head({ names }) {
  return (
    <thead>
      <tr>
        {names.map((name, i) => (
          <th key={i} scope="col">{name || <span className="sr-only">Actions</span>}</th>
        ))}
      </tr>
    </thead>
  );
}

/**
 * `attempt(fn)` runs a call to the server: `busy` meanwhile, its failure in `error` (the
 * server's message); resolves to whether it succeeded.
 */
export function useAttempt() {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const attempt = async (fn) => {
    setError(null);
    setBusy(true);
    try {
      await fn();
      return true;
    } catch (err) {
      setError(errorText(err));
      return false;
    } finally {
      setBusy(false);
    }
  };
  return { error, busy, attempt, clear: () => setError(null) };
}

/** An inline error under a form: the server's message, verbatim. */
export function InlineError({ error }) {
  if (!error) return null;
  return <pre className="inline-error" role="alert">{error}</pre>;
}

/** A small line chart of `points` ([{t, value}], value null for a gap) with its latest value. */
export function Chart({ points, label, format = String, height = 56, width = 260 }) {
  const values = points.map((p) => p.value).filter((v) => v !== null && v !== undefined && Number.isFinite(v));
  const max = Math.max(...values, 0);
  const last = [...points].reverse().find((p) => p.value !== null && p.value !== undefined);
  const t0 = points.length ? points[0].t : 0;
  const t1 = points.length ? points[points.length - 1].t : 1;
  const x = (t) => (t1 === t0 ? width : ((t - t0) / (t1 - t0)) * width);
  const y = (v) => height - 2 - (max ? (v / max) * (height - 6) : 0);
  const segments = [];
  let current = [];
  for (const p of points) {
    if (p.value === null || p.value === undefined || !Number.isFinite(p.value)) {
      if (current.length) segments.push(current);
      current = [];
    } else {
      current.push(`${x(p.t).toFixed(1)},${y(p.value).toFixed(1)}`);
    }
  }
  if (current.length) segments.push(current);
  return (
    <figure className="chart" aria-label={label}>
      <figcaption>
        <span>{label}</span>
        <strong>{last ? format(last.value) : "–"}</strong>
      </figcaption>
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" height={height} preserveAspectRatio="none" role="img"
        aria-label={`${label}: ${points.length} points, highest ${format(max)}`}>
        <line x1="0" x2={width} y1={height - 1} y2={height - 1} className="axis" />
        {segments.map((s, i) =>
          s.length === 1 ? (
            <circle key={i} cx={s[0].split(",")[0]} cy={s[0].split(",")[1]} r="2" className="dot" />
          ) : (
            <polyline key={i} points={s.join(" ")} className="line" />
          ),
        )}
      </svg>
      <div className="chart-range">
        <span>{points.length ? formatTime(t0) : ""}</span>
        <span>max {format(max)}</span>
        <span>{points.length ? formatTime(t1) : ""}</span>
      </div>
    </figure>
  );
}

/**
 * Page through a paginated system query: the cursors of the pages seen so far make
 * "previous" exact; each page stays live (its end is pinned by the server's journal).
 */
export function usePager(resetKey) {
  const [state, setState] = useState({ key: resetKey, cursors: [null] });
  const cursors = state.key === resetKey ? state.cursors : [null];
  return {
    cursor: cursors[cursors.length - 1],
    page: cursors.length,
    next: (continueCursor) => setState({ key: resetKey, cursors: [...cursors, continueCursor] }),
    previous: () => setState({ key: resetKey, cursors: cursors.slice(0, -1) }),
    first: () => setState({ key: resetKey, cursors: [null] }),
  };
}

export function Pager({ pager, result, what = "rows" }) {
  return (
    <nav className="pager" aria-label={`Pages of ${what}`}>
      <button type="button" onClick={pager.first} disabled={pager.page === 1}>First</button>
      <button type="button" onClick={pager.previous} disabled={pager.page === 1}>Previous page</button>
      <span className="page-number">Page {pager.page}</span>
      <button type="button" onClick={() => pager.next(result.continueCursor)} disabled={!result || result.isDone}>
        Next page
      </button>
    </nav>
  );
}

/** A button that asks again before doing something that cannot be undone. */
export function ConfirmButton({ label, confirm = "Confirm", onConfirm, disabled, className = "danger" }) {
  const [asking, setAsking] = useState(false);
  if (!asking) {
    return <button type="button" className={className} disabled={disabled} onClick={() => setAsking(true)}>{label}</button>;
  }
  return (
    <span className="confirm">
      <button type="button" className={className} onClick={() => { setAsking(false); onConfirm(); }}>{confirm}</button>
      <button type="button" onClick={() => setAsking(false)}>Keep</button>
    </span>
  );
}
