// The Data view: tables with counts; a live, paginated grid sorted by an index and
// filtered by field values; a document as JSON with field edits, insert and delete; the
// table's schema and indexes. Writes are the schema-checked mutations of
// _system/dashboard/data, so a violation comes back with the mutation's own message.
import { useEffect, useMemo, useState } from "react";
import { useMutation, useQuery } from "convex/react";
import { ConfirmButton, ErrorBoundary, Head, InlineError, Json, Loading, Pager, useAttempt, usePager } from "./common.jsx";
import { api, cellText, formatTime, formatValue, num, parseValue, typedValue, validatorText } from "./values.js";

const OPS = [
  ["eq", "="],
  ["neq", "≠"],
  ["lt", "<"],
  ["lte", "≤"],
  ["gt", ">"],
  ["gte", "≥"],
];
const PAGE_SIZES = [10, 25, 50, 100];

export default function Data({ arg }) {
  const tables = useQuery(api.data.tables, {});
  if (tables === undefined) return <Loading what="Loading tables" />;
  const table = tables.find((t) => t.name === arg) ?? tables.find((t) => !t.system) ?? tables[0];
  const user = tables.filter((t) => !t.system);
  const system = tables.filter((t) => t.system);
  const item = (t) => (
    <li key={t.name}>
      <a href={`#/data/${encodeURIComponent(t.name)}`} aria-current={table?.name === t.name ? "page" : undefined}>
        <span className="name">{t.name}</span>
        <span className="count" data-table-count={t.name}>{num(t.count).toLocaleString()}</span>
      </a>
    </li>
  );
  return (
    <div className="data">
      <aside className="tables" aria-label="Tables">
        <h2>Tables</h2>
        {user.length ? <ul>{user.map(item)}</ul> : <p className="hint">No tables yet.</p>}
        <h2>System tables</h2>
        <ul>{system.map(item)}</ul>
      </aside>
      {table ? (
        <ErrorBoundary what={`Table ${table.name}`} resetKey={table.name}>
          <TableView key={table.name} table={table} />
        </ErrorBoundary>
      ) : (
        <p>No tables.</p>
      )}
    </div>
  );
}

function TableView({ table }) {
  const [tab, setTab] = useState("documents");
  const [selected, setSelected] = useState(null);
  const [inserting, setInserting] = useState(false);
  return (
    <>
      <section className="table-view" aria-label={`Table ${table.name}`}>
        <header className="view-header">
          <h1>{table.name}</h1>
          <span className="hint">{num(table.count).toLocaleString()} document{num(table.count) === 1 ? "" : "s"}</span>
          {table.system && <span className="badge">system table · read-only</span>}
          <div className="tabs" role="tablist">
            <button type="button" role="tab" aria-selected={tab === "documents"} onClick={() => setTab("documents")}>Documents</button>
            <button type="button" role="tab" aria-selected={tab === "schema"} onClick={() => setTab("schema")}>Schema and indexes</button>
          </div>
          {!table.system && (
            <button type="button" className="primary" onClick={() => { setInserting(true); setSelected(null); }}>Add document</button>
          )}
        </header>
        {tab === "documents" ? (
          <Documents table={table} selected={selected} onSelect={(id) => { setSelected(id); setInserting(false); }} />
        ) : (
          <Schema table={table} />
        )}
      </section>
      {inserting && (
        <Insert table={table} onDone={(id) => { setInserting(false); if (id) setSelected(id); }} />
      )}
      {selected && !inserting && (
        <ErrorBoundary what="The document" resetKey={selected}>
          <DocumentPanel id={selected} table={table} onClose={() => setSelected(null)} />
        </ErrorBoundary>
      )}
    </>
  );
}

function Documents({ table, selected, onSelect }) {
  const [index, setIndex] = useState("by_creation_time");
  const [order, setOrder] = useState("desc");
  const [pageSize, setPageSize] = useState(25);
  const [filters, setFilters] = useState([]); // applied: [{field, op, value}]
  const [seen, setSeen] = useState([]); // the fields of the documents on the page
  const filterKey = useMemo(() => formatValue(filters), [filters]);
  const queryKey = `${table.name}|${index}|${order}|${pageSize}|${filterKey}`;
  const pager = usePager(queryKey);
  const declared = table.validator?.type === "object" ? Object.keys(table.validator.value) : [];
  const columns = [...new Set(["_id", ...declared, ...seen.filter((f) => f !== "_creationTime")]), "_creationTime"];
  const toggle = () => setOrder(order === "asc" ? "desc" : "asc");
  const sortBy = (field) => {
    const ix = table.indexes.find((i) => i.fields[0] === field);
    if (ix?.name === index) toggle();
    else if (ix) setIndex(ix.name);
  };
  return (
    <>
      <div className="toolbar">
        <label>
          Sort by index{" "}
          <select value={index} onChange={(e) => setIndex(e.target.value)} aria-label="Sort by index">
            {table.indexes.map((ix) => (
              <option key={ix.name} value={ix.name}>{ix.name} ({ix.fields.join(", ")})</option>
            ))}
          </select>
        </label>
        <button type="button" onClick={toggle} aria-label="Order">{order === "asc" ? "Ascending ▲" : "Descending ▼"}</button>
        <label>
          Per page{" "}
          <select value={pageSize} onChange={(e) => setPageSize(Number(e.target.value))}>
            {PAGE_SIZES.map((n) => <option key={n} value={n}>{n}</option>)}
          </select>
        </label>
      </div>
      <Filters table={table.name} columns={columns} onApply={setFilters} applied={filters} />
      {/* A query the server refuses (a filter it cannot apply) fails here, not the toolbar: it can be changed. */}
      <ErrorBoundary what="The documents" resetKey={`${queryKey}|${pager.cursor}`}>
        <Grid table={table} args={{ table: table.name, index, order, filters,
          paginationOpts: { numItems: pageSize, cursor: pager.cursor } }}
          columns={columns} onSeen={setSeen} sortBy={sortBy} pager={pager} selected={selected} onSelect={onSelect} />
      </ErrorBoundary>
    </>
  );
}

function Grid({ table, args, columns, onSeen, sortBy, pager, selected, onSelect }) {
  const result = useQuery(api.data.page, args);
  const fields = result && [...new Set(result.page.flatMap((doc) => Object.keys(doc)))].sort().join("\n");
  useEffect(() => {
    if (typeof fields === "string") onSeen(fields ? fields.split("\n") : []);
  }, [fields, onSeen]);
  if (result === undefined) return <Loading what="Loading documents" />;
  const sortField = table.indexes.find((ix) => ix.name === args.index)?.fields[0];
  const arrow = args.order === "asc" ? "▲" : "▼";
  return (
    <>
      <div className="grid-wrap">
        <table className="grid" aria-label={`Documents of ${table.name}`}>
          <thead>
            <tr>
              {columns.map((c) => (
                <th key={c} scope="col"
                  aria-sort={c === sortField ? (args.order === "asc" ? "ascending" : "descending") : undefined}>
                  {table.indexes.some((ix) => ix.fields[0] === c) ? (
                    <button type="button" className="link" onClick={() => sortBy(c)} title="Sort by this field's index">
                      {c} {c === sortField ? arrow : "↕"}
                    </button>
                  ) : c}
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.page.map((doc) => (
              <tr key={doc._id} data-id={doc._id} aria-selected={doc._id === selected}
                onClick={() => onSelect(doc._id)} tabIndex={0}
                onKeyDown={(e) => { if (e.key === "Enter") onSelect(doc._id); }}>
                {columns.map((c) => (
                  <td key={c} data-field={c} className={doc[c] === undefined ? "missing" : undefined}>
                    {c === "_creationTime" ? formatTime(doc[c], true) : doc[c] === undefined ? "" : cellText(doc[c])}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
        {!result.page.length && <p className="empty">No documents{args.filters.length ? " match the filters" : ""}.</p>}
      </div>
      <Pager pager={pager} result={result} what="documents" />
    </>
  );
}

/** Filter rows: field, operator, value (JSON, or plain text for a string). Applied together. */
function Filters({ table, columns, applied, onApply }) {
  const [rows, setRows] = useState([]);
  const [error, setError] = useState(null);
  const apply = (next) => {
    try {
      onApply(next.filter((r) => r.field).map((r) => ({ field: r.field, op: r.op, value: readFilterValue(r.text) })));
      setError(null);
    } catch (err) {
      setError(err.message);
    }
  };
  const update = (i, patch) => setRows(rows.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <form className="filters" onSubmit={(e) => { e.preventDefault(); apply(rows); }} aria-label="Filters">
      {rows.map((r, i) => (
        <div className="filter" key={i}>
          <input aria-label="Filter field" value={r.field} list={`fields-${table}`} placeholder="field, e.g. a.b"
            onChange={(e) => update(i, { field: e.target.value })} />
          <select aria-label="Filter operator" value={r.op} onChange={(e) => update(i, { op: e.target.value })}>
            {OPS.map(([op, label]) => <option key={op} value={op}>{label}</option>)}
          </select>
          <input aria-label="Filter value" value={r.text} placeholder='value, e.g. "shoes" or 42'
            onChange={(e) => update(i, { text: e.target.value })} />
          <button type="button" className="link" onClick={() => { const next = rows.filter((_, j) => j !== i); setRows(next); apply(next); }}>
            Remove
          </button>
        </div>
      ))}
      <datalist id={`fields-${table}`}>{columns.map((c) => <option key={c} value={c} />)}</datalist>
      <div className="filter-actions">
        <button type="button" onClick={() => setRows([...rows, { field: "", op: "eq", text: "" }])}>Add filter</button>
        {rows.length > 0 && <button type="submit">Apply filters</button>}
        {applied.length > 0 && <span className="hint">{applied.length} filter{applied.length === 1 ? "" : "s"} applied</span>}
      </div>
      <InlineError error={error} />
    </form>
  );
}

function readFilterValue(text) {
  try {
    return parseValue(text);
  } catch {
    return text; // a bare word is the string it spells
  }
}

function DocumentPanel({ id, table, onClose }) {
  const doc = useQuery(api.data.document, { id });
  const patch = useMutation(api.data.patch);
  const replace = useMutation(api.data.replace);
  const remove = useMutation(api.data.delete);
  const [editing, setEditing] = useState(null); // a field name, or "*" for the whole document
  const [text, setText] = useState("");
  const { error, busy, attempt, clear } = useAttempt();
  if (doc === undefined) return <aside className="document"><Loading /></aside>;
  if (doc === null) {
    return (
      <aside className="document" aria-label="Document">
        <p>Document {id} no longer exists.</p>
        <button type="button" onClick={onClose}>Close</button>
      </aside>
    );
  }
  const startEdit = (field) => {
    setEditing(field);
    clear();
    if (field === "*") {
      const body = Object.fromEntries(Object.entries(doc).filter(([k]) => !k.startsWith("_")));
      setText(formatValue(body, 2));
    } else {
      setText(formatValue(doc[field], 2));
    }
  };
  const run = async (write) => {
    if (await attempt(write)) setEditing(null);
  };
  const save = () => run(async () => {
    const value = typedValue(text);
    if (editing === "*") await replace({ id, document: value });
    else await patch({ id, fields: { [editing]: value } });
  });
  const declared = table.validator?.type === "object" ? Object.keys(table.validator.value) : [];
  const fields = [...new Set(["_id", "_creationTime", ...declared.filter((f) => f in doc), ...Object.keys(doc)])];
  return (
    <aside className="document" aria-label="Document">
      <header>
        <h2>Document</h2>
        <code className="doc-id">{id}</code>
        <button type="button" className="link" onClick={onClose} aria-label="Close the document">Close</button>
      </header>
      <dl className="fields">
        {fields.map((f) => (
          <div key={f} className="field" data-field={f}>
            <dt>{f}</dt>
            {editing === f ? (
              <dd>
                <FieldEditor text={text} setText={setText} onSave={save} onCancel={() => setEditing(null)} busy={busy}
                  label={`New value of ${f}`} />
              </dd>
            ) : (
              <dd>
                <Json value={doc[f]} />
                {f === "_creationTime" && <span className="hint">{formatTime(doc[f], true)}</span>}
                {!table.system && !f.startsWith("_") && (
                  <span className="field-actions">
                    <button type="button" className="link" onClick={() => startEdit(f)} aria-label={`Edit ${f}`}>Edit</button>
                    <button type="button" className="link" onClick={() => run(() => patch({ id, fields: {}, remove: [f] }))}
                      aria-label={`Remove ${f}`}>Remove</button>
                  </span>
                )}
              </dd>
            )}
          </div>
        ))}
      </dl>
      {editing === "*" && (
        <FieldEditor text={text} setText={setText} onSave={save} onCancel={() => setEditing(null)} busy={busy}
          label="The whole document" rows={16} />
      )}
      <InlineError error={error} />
      {!table.system && editing === null && (
        <div className="actions">
          <button type="button" onClick={() => startEdit("*")}>Edit as JSON</button>
          <ConfirmButton label="Delete document" confirm="Delete for good" onConfirm={() => run(async () => {
            await remove({ ids: [id] });
            onClose();
          })} />
        </div>
      )}
      <details>
        <summary>JSON</summary>
        <Json value={doc} />
      </details>
    </aside>
  );
}

function FieldEditor({ text, setText, onSave, onCancel, busy, label, rows = 4 }) {
  return (
    <form className="editor" onSubmit={(e) => { e.preventDefault(); onSave(); }}>
      <textarea aria-label={label} value={text} rows={rows} onChange={(e) => setText(e.target.value)} autoFocus
        spellCheck={false}
        onKeyDown={(e) => { if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) onSave(); if (e.key === "Escape") onCancel(); }} />
      <div>
        <button type="submit" className="primary" disabled={busy}>{busy ? "Saving…" : "Save"}</button>
        <button type="button" onClick={onCancel}>Cancel</button>
        <span className="hint">JSON; int64 as 42n</span>
      </div>
    </form>
  );
}

/** A starting document from the table's validator: every required field with an empty value. */
function template(validator) {
  const empty = (t) => {
    switch (t?.type) {
      case "string":
      case "id":
        return "";
      case "number":
        return 0;
      case "bigint":
        return 0n;
      case "boolean":
        return false;
      case "array":
        return [];
      case "object":
        return template(t);
      case "record":
        return {};
      case "literal":
        return t.value;
      case "union":
        return empty(t.value[0]);
      default:
        return null;
    }
  };
  if (validator?.type !== "object") return validator?.type === "union" ? template(validator.value[0]) : {};
  return Object.fromEntries(
    Object.entries(validator.value).filter(([, f]) => !f.optional).map(([name, f]) => [name, empty(f.fieldType)]),
  );
}

function Insert({ table, onDone }) {
  const insert = useMutation(api.data.insert);
  const [text, setText] = useState(() => formatValue(template(table.validator), 2));
  const { error, busy, attempt } = useAttempt();
  const save = () => attempt(async () => onDone(await insert({ table: table.name, document: typedValue(text) })));
  return (
    <aside className="document" aria-label="New document">
      <header>
        <h2>New document in {table.name}</h2>
      </header>
      <FieldEditor text={text} setText={setText} onSave={save} onCancel={() => onDone(null)} busy={busy}
        label="The new document" rows={14} />
      <InlineError error={error} />
    </aside>
  );
}

function Schema({ table }) {
  return (
    <div className="schema">
      <h2>Documents</h2>
      <pre className="validator">{table.validator ? validatorText(table.validator) : "No schema: any document is accepted."}</pre>
      <h2>Indexes</h2>
      <table className="plain">
        <Head names={["Name", "Fields"]} />
        <tbody>
          {table.indexes.map((ix) => (
            <tr key={ix.name}><td><code>{ix.name}</code></td><td>{ix.fields.join(", ")}{["by_id", "by_creation_time"].includes(ix.name) ? " (every table has it)" : ""}</td></tr>
          ))}
        </tbody>
      </table>
      <h2>Search indexes</h2>
      {table.searchIndexes.length ? (
        <table className="plain">
          <Head names={["Name", "Search field", "Filter fields"]} />
          <tbody>
            {table.searchIndexes.map((ix) => (
              <tr key={ix.name}><td><code>{ix.name}</code></td><td>{ix.searchField}</td><td>{ix.filterFields.join(", ") || "–"}</td></tr>
            ))}
          </tbody>
        </table>
      ) : <p className="hint">None.</p>}
      <h2>Vector indexes</h2>
      {table.vectorIndexes.length ? (
        <table className="plain">
          <Head names={["Name", "Vector field", "Dimensions", "Filter fields"]} />
          <tbody>
            {table.vectorIndexes.map((ix) => (
              <tr key={ix.name}><td><code>{ix.name}</code></td><td>{ix.vectorField}</td><td>{num(ix.dimensions)}</td><td>{ix.filterFields.join(", ") || "–"}</td></tr>
            ))}
          </tbody>
        </table>
      ) : <p className="hint">None.</p>}
    </div>
  );
}
