// Optimistic updates of preferences:get for the profile's mutations, mirroring what the
// server's effective profile (functions/_lib/profile_view.py) will show once they commit.
import type { OptimisticLocalStore } from "convex/browser";
import type { FunctionArgs } from "convex/server";
import { api } from "./api";
import type { Facet, FacetValue, ProfileView, ValueState } from "./api";

type OverrideArgs = FunctionArgs<typeof api.preferences.set_override>;
type UpdateArgs = FunctionArgs<typeof api.preferences.update>;
type Action = OverrideArgs["action"];

const STATE_ORDER: Record<ValueState, number> = { pinned: 0, shown: 1, learning: 2, removed: 3, never: 4 };
const ACTION_STATE = { pin: "pinned", remove: "removed", never: "never" } as const;
const ACTION_AFFINITY = { pin: 1, remove: 0, never: -1 } as const;

export function normValue(facet: OverrideArgs["facet"], value: string): string {
  const v = value.trim();
  return facet === "brand" ? v : v.toLowerCase();
}

function sortValues(list: FacetValue[]): FacetValue[] {
  return [...list].sort((a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9)
    || Number(b.affinity ?? 0) - Number(a.affinity ?? 0) || String(a.value).localeCompare(String(b.value)));
}

function withProfile(store: OptimisticLocalStore, fn: (prof: ProfileView) => ProfileView): void {
  const prof: ProfileView | undefined = store.getQuery(api.preferences.get, {});
  if (prof) store.setQuery(api.preferences.get, {}, fn(prof));
}

function applyOverride(prof: ProfileView, facet: OverrideArgs["facet"], rawValue: string, action: Action): ProfileView {
  if (facet === "budget" || facet === "size") {
    const table = { ...(prof[facet] ?? {}) };
    delete table[normValue("category", rawValue)];
    return { ...prof, [facet]: table };
  }
  const value = normValue(facet, rawValue);
  const list = [...(prof.facets?.[facet] ?? [])];
  const i = list.findIndex((v) => v.value === value);
  if (action === "clear") {
    if (i >= 0 && list[i].source === "user") {
      list[i] = { ...list[i], source: "learned", state: "learning", confidence: 0, affinity: 0, locked: false };
    }
  } else {
    const base: FacetValue = i >= 0 ? list[i]
      : { value, source: "learned", state: "learning", evidence: { items: 0, signals: 0, lastSeen: null } };
    const next: FacetValue = {
      ...base, source: "user", state: ACTION_STATE[action], confidence: 1, affinity: ACTION_AFFINITY[action], locked: true,
    };
    if (i >= 0) list[i] = next;
    else list.push(next);
  }
  return { ...prof, facets: { ...prof.facets, [facet]: sortValues(list) } };
}

export function setOverrideUpdate(store: OptimisticLocalStore, { facet, value, action }: OverrideArgs): void {
  withProfile(store, (prof) => applyOverride(prof, facet, value, action));
}

/** For a list of set_override calls sent one after another (an edit = remove old + pin new). */
export function applyOverrides(store: OptimisticLocalStore, changes: OverrideArgs[]): void {
  withProfile(store, (prof) => changes.reduce((p, c) => applyOverride(p, c.facet, c.value, c.action), prof));
}

export function updateUpdate(store: OptimisticLocalStore, args: UpdateArgs): void {
  withProfile(store, (prof) => {
    const out = { ...prof, budget: { ...(prof.budget ?? {}) }, size: { ...(prof.size ?? {}) } };
    for (const [cat, band] of Object.entries(args.budget ?? {})) {
      const c = normValue("category", cat);
      if (band === null) delete out.budget[c];
      else out.budget[c] = { ...(out.budget[c] ?? {}), min: band.min, max: band.max, source: "user", confidence: 1, locked: true };
    }
    for (const [cat, size] of Object.entries(args.size ?? {})) {
      const c = normValue("category", cat);
      if (size === null || !size.trim()) delete out.size[c];
      else out.size[c] = { ...(out.size[c] ?? {}), size: size.trim(), source: "user", confidence: 1, locked: true };
    }
    return out;
  });
}

export function pausedUpdate(store: OptimisticLocalStore, { paused }: { paused: boolean }): void {
  withProfile(store, (prof) => ({ ...prof, learningPaused: paused }));
}

export function resetUpdate(store: OptimisticLocalStore): void {
  withProfile(store, (prof) => {
    const facets: ProfileView["facets"] = {};
    for (const [f, list] of Object.entries(prof.facets ?? {})) facets[f as Facet] = list.filter((v) => v.source === "user");
    const keep = <T extends { source?: string }>(t: Record<string, T> | undefined) =>
      Object.fromEntries(Object.entries(t ?? {}).filter(([, x]) => x.source === "user"));
    return { ...prof, facets, budget: keep(prof.budget), size: keep(prof.size) };
  });
}
