// Optimistic updates of preferences:get for the profile's mutations, mirroring what the
// server's effective profile (functions/_lib/profile_view.py) will show once they commit.
import { api } from "./api.js";

const STATE_ORDER = { pinned: 0, shown: 1, learning: 2, removed: 3, never: 4 };
const ACTION_STATE = { pin: "pinned", remove: "removed", never: "never" };
const ACTION_AFFINITY = { pin: 1, remove: 0, never: -1 };

export function normValue(facet, value) {
  const v = value.trim();
  return facet === "brand" ? v : v.toLowerCase();
}

function sortValues(list) {
  return [...list].sort((a, b) => (STATE_ORDER[a.state] ?? 9) - (STATE_ORDER[b.state] ?? 9)
    || Number(b.affinity ?? 0) - Number(a.affinity ?? 0) || String(a.value).localeCompare(String(b.value)));
}

function withProfile(store, fn) {
  const prof = store.getQuery(api.preferences.get, {});
  if (prof) store.setQuery(api.preferences.get, {}, fn(prof));
}

function applyOverride(prof, facet, rawValue, action) {
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
    const base = i >= 0 ? list[i] : { value, evidence: { items: 0, signals: 0, lastSeen: null } };
    const next = { ...base, source: "user", state: ACTION_STATE[action], confidence: 1, affinity: ACTION_AFFINITY[action], locked: true };
    if (i >= 0) list[i] = next;
    else list.push(next);
  }
  return { ...prof, facets: { ...prof.facets, [facet]: sortValues(list) } };
}

export function setOverrideUpdate(store, { facet, value, action }) {
  withProfile(store, (prof) => applyOverride(prof, facet, value, action));
}

/** For a list of set_override calls sent one after another (an edit = remove old + pin new). */
export function applyOverrides(store, changes) {
  withProfile(store, (prof) => changes.reduce((p, c) => applyOverride(p, c.facet, c.value, c.action), prof));
}

export function updateUpdate(store, args) {
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

export function pausedUpdate(store, { paused }) {
  withProfile(store, (prof) => ({ ...prof, learningPaused: paused }));
}

export function resetUpdate(store) {
  withProfile(store, (prof) => {
    const facets = {};
    for (const [f, list] of Object.entries(prof.facets ?? {})) facets[f] = list.filter((v) => v.source === "user");
    const keep = (t) => Object.fromEntries(Object.entries(t ?? {}).filter(([, x]) => x.source === "user"));
    return { ...prof, facets, budget: keep(prof.budget), size: keep(prof.size) };
  });
}
