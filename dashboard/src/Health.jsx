// The Health view: commits, mutations and query runs per second, live queries and
// connections, database and WAL size: now, and sampled over the last hour.
import { useQuery } from "convex/react";
import { Chart, Loading } from "./common.jsx";
import { api, formatBytes, formatRate, formatTime, num } from "./values.js";

const CHARTS = [
  ["commitsPerS", "Commits per second", formatRate],
  ["mutationsPerS", "Mutations per second", formatRate],
  ["queryRunsPerS", "Query runs per second (subscriptions and reruns)", formatRate],
  ["liveQueries", "Live queries", (x) => String(num(x))],
  ["connections", "Connections", (x) => String(num(x))],
  ["databaseBytes", "Database size", formatBytes],
  ["walBytes", "WAL size", formatBytes],
];

export default function Health() {
  const health = useQuery(api.health.overview, {});
  if (health === undefined) return <Loading what="Loading health" />;
  const { now, series } = health;
  const facts = [
    ["Commits", num(now.commits).toLocaleString()],
    ["Mutations", num(now.mutations).toLocaleString()],
    ["Query runs", num(now.queryRuns).toLocaleString()],
    ["Live queries", num(now.liveQueries).toLocaleString()],
    ["Connections", num(now.connections).toLocaleString()],
    ["Database", formatBytes(now.databaseBytes)],
    ["WAL", formatBytes(now.walBytes)],
  ];
  return (
    <section className="health" aria-label="Health">
      <header className="view-header">
        <h1>Health</h1>
        <span className="hint">
          since {formatTime(health.startedAt, true)}; sampled every {num(health.sampleEveryS)} s, the last hour kept
        </span>
      </header>
      <dl className="cards">
        {facts.map(([label, value]) => (
          <div key={label} className="card" data-fact={label}>
            <dt>{label}</dt>
            <dd>{value}</dd>
          </div>
        ))}
      </dl>
      <div className="charts wide">
        {CHARTS.map(([key, label, format]) => (
          <Chart key={key} label={label} format={format} height={72}
            points={series.map((p) => ({ t: num(p.t), value: num(p[key]) }))} />
        ))}
      </div>
    </section>
  );
}
