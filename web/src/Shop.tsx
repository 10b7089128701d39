// Browse (catalog:list, paginated by category) and search (search:personalized, with reasons).
import { useEffect, useId, useMemo, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useAction, useConvexConnectionState, useMutation, usePaginatedQuery, useQuery } from "convex/react";
import { api, describeError, jsonText, toPlain } from "./api";
import type { Id, Product, ProfileView, SavedRow, SearchResponse } from "./api";
import { Loading, Switch, useFlash } from "./common";
import ProductCard from "./ProductCard";

export function usePersonalizeSwitch() {
  return useMutation(api.preferences.set_personalize).withOptimisticUpdate((store, { enabled }) => {
    const prof: ProfileView | undefined = store.getQuery(api.preferences.get, {});
    if (prof) store.setQuery(api.preferences.get, {}, { ...prof, personalize: enabled });
  });
}

export function PersonalizeSwitch({ prefs }: { prefs: ProfileView | undefined }) {
  const set = usePersonalizeSwitch();
  const [flash, show] = useFlash();
  return (
    <div className="personalize">
      <Switch label="Personalise results" checked={prefs ? prefs.personalize : true} disabled={!prefs}
        description={prefs && !prefs.personalize ? "Off: results are in plain relevance order." : "On: results are ranked by what you like."}
        onChange={(enabled) => set({ enabled }).catch((err) => show("error", describeError(err)))} />
      {flash}
    </div>
  );
}

function useSavedIds(): Set<Id<"products">> {
  const saved: SavedRow[] | undefined = useQuery(api.saved_items.list, {});
  return useMemo(() => new Set((saved ?? []).filter((r) => r.kind === "saved").map((r) => r.productId)), [saved]);
}

export default function Shop() {
  const prefs: ProfileView | undefined = useQuery(api.preferences.get, {});
  const categories: Record<string, number> | undefined = useQuery(api.catalog.categories, {});
  const [input, setInput] = useState("");
  const [query, setQuery] = useState("");
  const [searchNo, setSearchNo] = useState(0);
  const [category, setCategory] = useState("");
  const id = useId();

  function submit(e: FormEvent) {
    e.preventDefault();
    setQuery(input.trim());
    setSearchNo((n) => n + 1);
  }

  return (
    <section aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`} tabIndex={-1}>Shop</h1>
      <form role="search" className="searchbar" onSubmit={submit} aria-label="Catalogue">
        <label htmlFor={`${id}-q`} className="visually-hidden">Search the catalogue</label>
        <input id={`${id}-q`} type="search" placeholder="Search, e.g. navy dress" value={input}
          onChange={(e) => setInput(e.target.value)} />
        <label htmlFor={`${id}-cat`} className="visually-hidden">Category</label>
        <select id={`${id}-cat`} value={category} onChange={(e) => setCategory(e.target.value)}>
          <option value="">All categories</option>
          {Object.keys(categories ?? {}).sort().map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <button type="submit" className="primary">Search</button>
        {query && (
          <button type="button" onClick={() => { setInput(""); setQuery(""); }}>Clear search</button>
        )}
      </form>
      <PersonalizeSwitch prefs={prefs} />
      {query
        ? <SearchResults query={query} category={category} prefs={prefs} searchNo={searchNo} />
        : <Browse category={category} />}
    </section>
  );
}

function profileKey(prefs: ProfileView | undefined): string | null {
  if (!prefs) return null;
  return jsonText([prefs.personalize, prefs.facets, prefs.budget, prefs.size]);
}

type SearchState = {
  status: "loading" | "updating" | "ok" | "error";
  data: SearchResponse | null;
  error: unknown;
};

function SearchResults({ query, category, prefs, searchNo }: {
  query: string;
  category: string;
  prefs: ProfileView | undefined;
  searchNo: number;
}) {
  const search = useAction(api.search.personalized);
  const saved = useSavedIds();
  const conn = useConvexConnectionState();
  const [state, setState] = useState<SearchState>({ status: "loading", data: null, error: null });
  const [retry, setRetry] = useState(0);
  const seq = useRef(0);
  const logged = useRef(-1);
  const key = profileKey(prefs);

  // Re-run when the query changes, and again (debounced) whenever the profile changes,
  // so learning and edits re-rank the results live.
  useEffect(() => {
    if (key === null) return undefined;
    const n = ++seq.current;
    const logSearch = logged.current !== searchNo;
    const t = setTimeout(() => {
      setState((s) => ({ ...s, status: s.data ? "updating" : "loading" }));
      if (logSearch) logged.current = searchNo;
      search({ query, limit: 24, ...(category ? { category } : {}), ...(logSearch ? { logSearch: true } : {}) }).then(
        (data) => {
          if (n === seq.current) setState({ status: "ok", data: toPlain(data) as SearchResponse, error: null });
        },
        (error) => {
          if (n === seq.current) setState((s) => ({ status: "error", data: s.data, error }));
        },
      );
    }, logged.current === searchNo ? 300 : 0);
    return () => clearTimeout(t);
  }, [search, query, category, key, searchNo, retry]);

  // Retry a search that failed because the connection dropped, once it is back.
  const connected = conn.isWebSocketConnected;
  useEffect(() => {
    if (connected && state.status === "error") setRetry((r) => r + 1);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [connected]);

  const { status, data, error } = state;
  return (
    <div className="results" aria-busy={status === "loading" || status === "updating"}>
      <div role="status" aria-live="polite" className="result-summary">
        {status === "loading" && <Loading>Searching…</Loading>}
        {data && (
          <p>
            {data.results.length === 0
              ? <>No products match “{query}”. Try fewer or different words.</>
              : <>{data.matched} match{data.matched === 1 ? "" : "es"} for “{query}”
                {data.personalized ? ", ranked for you" : ", in plain relevance order (personalisation is off)"}.
                {status === "updating" && " Updating…"}</>}
          </p>
        )}
      </div>
      {data && data.mostlyUnmatched && data.results.length > 0 && <UnmatchedNotice data={data} />}
      {status === "error" && (
        <div className="notice error" role="alert">
          <p>The search did not work. {describeError(error)}</p>
          <button type="button" onClick={() => setRetry((r) => r + 1)}>Try again</button>
        </div>
      )}
      {data && data.results.length > 0 && (
        <ol className="grid" aria-label={`Results for ${query}`} data-personalized={data.personalized ? "yes" : "no"}>
          {data.results.map((r, i) => (
            <li key={r.product._id}>
              <ProductCard product={r.product} reasons={r.reasons} saved={saved.has(r.product._id)} rank={i + 1} />
            </li>
          ))}
        </ol>
      )}
    </div>
  );
}

// Most of the query's words match nothing in the catalogue: say so, and what the results do match.
function UnmatchedNotice({ data }: { data: SearchResponse }) {
  const unmatched = data.unmatchedTerms;
  const matched = data.terms.filter((t) => !unmatched.includes(t));
  const quote = (words: string[]) => words.map((w) => `“${w}”`).join(", ");
  return (
    <p className="notice info unmatched" data-testid="unmatched-notice">
      Nothing in the catalogue matches {quote(unmatched)}: these results match {quote(matched)} only.
    </p>
  );
}

function Browse({ category }: { category: string }) {
  const args = category ? { category } : {};
  const { results, status, loadMore } = usePaginatedQuery(api.catalog.list, args, { initialNumItems: 12 });
  const saved = useSavedIds();
  return (
    <div className="results">
      <h2>{category ? `Browsing ${category}` : "Browse the catalogue"}</h2>
      <p className="hint">Search to see results ranked for you, with the reasons.</p>
      {status === "LoadingFirstPage" && <Loading>Loading products…</Loading>}
      {status !== "LoadingFirstPage" && results.length === 0 && (
        <p className="empty">There are no products {category ? `in ${category}` : "in the catalogue"} yet.</p>
      )}
      {results.length > 0 && (
        <ul className="grid" aria-label="Products">
          {results.map((p: Product) => (
            <li key={p._id}><ProductCard product={p} saved={saved.has(p._id)} /></li>
          ))}
        </ul>
      )}
      {(status === "CanLoadMore" || status === "LoadingMore") && (
        <button type="button" className="load-more" onClick={() => loadMore(12)} disabled={status === "LoadingMore"}>
          {status === "LoadingMore" ? "Loading…" : "Show more"}
        </button>
      )}
    </div>
  );
}
