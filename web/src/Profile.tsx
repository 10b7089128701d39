// The profile: learned values with confidence and evidence (live), the shopper's
// corrections (pin / not me / never / edit, budget, size) applied optimistically, the
// switches, and control over their data.
import { useEffect, useId, useRef, useState } from "react";
import type { FormEvent } from "react";
import { useAction, useMutation, useQuery } from "convex/react";
import { api, describeError, formatDate, formatPrice, jsonText, num } from "./api";
import type { BudgetBand, Facet, FacetInfo, FacetValue, Me, Numeric, ProfileView, SizeChoice, ValueState } from "./api";
import type { SignOut } from "./App";
import { ConfirmDialog, Loading, Switch, useFlash } from "./common";
import { PersonalizeSwitch } from "./Shop";
import { normValue, pausedUpdate, resetUpdate, setOverrideUpdate, updateUpdate } from "./profileUpdates";
import { deleteSignIn, signOut } from "./auth";

const STATE_LABEL: Record<ValueState, string> = {
  shown: "Learned", learning: "Still learning", pinned: "Always", removed: "Not me", never: "Never",
};

function useOverride() {
  return useMutation(api.preferences.set_override).withOptimisticUpdate(setOverrideUpdate);
}

export default function Profile({ onSignOut }: { onSignOut: SignOut }) {
  const prefs: ProfileView | undefined = useQuery(api.preferences.get, {});
  const me: Me | null | undefined = useQuery(api.users.me, {});
  const facets: FacetInfo[] | undefined = useQuery(api.preferences.facets, {}); // which facets, in order, and their names
  const id = useId();
  return (
    <section aria-labelledby={`${id}-h`} className="profile">
      <h1 id={`${id}-h`} tabIndex={-1}>Your profile</h1>
      {prefs === undefined || facets === undefined ? <Loading>Loading your profile…</Loading> : (
        <>
          <p className="hint" aria-live="polite" data-testid="profile-updated">
            {me?.email ? `${me.email} · ` : ""}
            {prefs.updatedAt ? `What we learned was last updated ${new Date(num(prefs.updatedAt)).toLocaleString()}.` : "Nothing learned yet."}
          </p>
          <div className="card switches">
            <PersonalizeSwitch prefs={prefs} />
            <PauseSwitch prefs={prefs} />
          </div>
          {facets.map((f) => <FacetSection key={f.name} info={f} values={prefs.facets?.[f.name] ?? []} />)}
          <BudgetSection budget={prefs.budget ?? {}} />
          <SizeSection size={prefs.size ?? {}} />
          <InspirationPhoto me={me} />
          <DataSection onSignOut={onSignOut} />
        </>
      )}
    </section>
  );
}

function PauseSwitch({ prefs }: { prefs: ProfileView }) {
  const set = useMutation(api.privacy.set_learning_paused).withOptimisticUpdate(pausedUpdate);
  const [flash, show] = useFlash();
  return (
    <div>
      <Switch label="Pause learning" checked={prefs.learningPaused}
        description={prefs.learningPaused ? "Paused: what you do now is not used to learn." : "We learn from what you like, save, buy and dismiss."}
        onChange={(paused) => set({ paused }).catch((err) => show("error", describeError(err)))} />
      {flash}
    </div>
  );
}

function Confidence({ value }: { value: Numeric | undefined }) {
  const x = num(value ?? 0);
  const pct = Math.round(x * 100);
  return (
    <span className="confidence">
      <meter min="0" max="1" value={x} aria-label={`Confidence ${pct}%`} />
      <span>{pct}% sure</span>
    </span>
  );
}

function Evidence({ v }: { v: FacetValue }) {
  if (v.source === "user") return <span className="evidence">Set by you</span>;
  const e = v.evidence ?? {};
  const items = num(e.items ?? 0), signals = num(e.signals ?? 0);
  return (
    <span className="evidence">
      From {items > 0 ? `${items} item${items === 1 ? "" : "s"}, ` : ""}{signals} signal{signals === 1 ? "" : "s"}
      {e.lastSeen ? `, last ${formatDate(num(e.lastSeen))}` : ""}
    </span>
  );
}

function FacetSection({ info, values }: { info: FacetInfo; values: FacetValue[] }) {
  const id = useId();
  const facet = info.name;
  const label = info.label;
  const profile = values.filter((v) => v.state === "shown" || v.state === "pinned");
  // Still learning: the evidence moved it up (its posterior is above its prior), not far enough to show it.
  const learning = values.filter((v) => v.state === "learning" && num(v.affinity ?? 0) >= 0
    && (num(v.affinity ?? 0) > 0 || num(v.posterior ?? 0) > num(v.prior ?? 1)));
  const avoided = values.filter((v) => v.state === "learning" && num(v.affinity ?? 0) < 0);
  const blocked = values.filter((v) => v.state === "removed" || v.state === "never");
  return (
    <section className="card facet" aria-labelledby={`${id}-h`} data-facet={facet}>
      <h2 id={`${id}-h`}>{label}</h2>
      {profile.length === 0 && learning.length === 0 && (
        <p className="empty">Nothing learned about your {info.singular} preferences yet.</p>
      )}
      {profile.length > 0 && (
        <ul className="values" aria-label={`${label} you like`}>
          {profile.map((v) => <ValueRow key={v.value} facet={facet} v={v} />)}
        </ul>
      )}
      {learning.length > 0 && (
        <>
          <h3>Still learning</h3>
          <ul className="values learning" aria-label={`${label} we are still learning`}>
            {learning.map((v) => <ValueRow key={v.value} facet={facet} v={v} />)}
          </ul>
        </>
      )}
      {avoided.length > 0 && (
        <>
          <h3>You tend to avoid</h3>
          <ul className="values avoided" aria-label={`${label} you tend to avoid`}>
            {avoided.map((v) => <ValueRow key={v.value} facet={facet} v={v} />)}
          </ul>
        </>
      )}
      {blocked.length > 0 && (
        <>
          <h3>Not me / never</h3>
          <ul className="values blocked" aria-label={`${label} you turned off`}>
            {blocked.map((v) => <ValueRow key={v.value} facet={facet} v={v} />)}
          </ul>
        </>
      )}
      <AddValue facet={facet} singular={info.singular} />
    </section>
  );
}

function ValueRow({ facet, v }: { facet: Facet; v: FacetValue }) {
  const setOverride = useOverride();
  const [editing, setEditing] = useState(false);
  const [text, setText] = useState(v.value);
  const [flash, show] = useFlash();
  const id = useId();
  const name = v.value;
  const run = (p: Promise<unknown>) => p.catch((err) => show("error", describeError(err)));
  const act = (action: "pin" | "remove" | "never" | "clear") => run(setOverride({ facet, value: name, action }));

  async function saveEdit(e: FormEvent) {
    e.preventDefault();
    const next = normValue(facet, text);
    if (!next) return;
    setEditing(false);
    if (next === name) return;
    await run(Promise.all([setOverride({ facet, value: name, action: "remove" }), setOverride({ facet, value: next, action: "pin" })]));
  }

  const blocked = v.state === "removed" || v.state === "never";
  return (
    <li className={`value state-${v.state}`} data-value={name} data-state={v.state}>
      <div className="value-head">
        <span className="value-name">{name}</span>
        <span className={`badge ${v.state}`}>{STATE_LABEL[v.state] ?? v.state}</span>
        {!blocked && num(v.affinity ?? 0) >= 0 && <Confidence value={v.confidence} />}
        <Evidence v={v} />
      </div>
      {editing ? (
        <form className="inline" onSubmit={saveEdit}>
          <label htmlFor={`${id}-e`}>Change “{name}” to</label>
          <input id={`${id}-e`} value={text} onChange={(e) => setText(e.target.value)} autoFocus />
          <button type="submit" className="primary">Save</button>
          <button type="button" onClick={() => setEditing(false)}>Cancel</button>
        </form>
      ) : (
        <div className="actions" role="group" aria-label={`Change ${name}`}>
          {v.state !== "pinned" && !blocked && (
            <button type="button" onClick={() => act("pin")} aria-label={`Pin ${name}: always`}>Always</button>
          )}
          {v.state === "pinned" && (
            <button type="button" onClick={() => act("clear")} aria-label={`Unpin ${name}`}>Unpin</button>
          )}
          {!blocked && (
            <>
              <button type="button" onClick={() => { setText(name); setEditing(true); }} aria-label={`Edit ${name}`}>Edit</button>
              <button type="button" onClick={() => act("remove")} aria-label={`Remove ${name}: not me`}>Not me</button>
              <button type="button" className="danger-text" onClick={() => act("never")} aria-label={`Ban ${name}: never`}>Never</button>
            </>
          )}
          {blocked && (
            <button type="button" onClick={() => act("clear")} aria-label={`Undo ${STATE_LABEL[v.state]} for ${name}`}>Undo</button>
          )}
        </div>
      )}
      {flash}
    </li>
  );
}

function AddValue({ facet, singular }: { facet: Facet; singular: string }) {
  const setOverride = useOverride();
  const [text, setText] = useState("");
  const [flash, show] = useFlash();
  const id = useId();
  function submit(e: FormEvent) {
    e.preventDefault();
    const value = text.trim();
    if (!value) return;
    setText("");
    setOverride({ facet, value, action: "pin" }).catch((err) => show("error", describeError(err)));
  }
  return (
    <form className="inline add" onSubmit={submit}>
      <label htmlFor={`${id}-a`}>Add a {singular} you like</label>
      <input id={`${id}-a`} value={text} onChange={(e) => setText(e.target.value)} />
      <button type="submit">Add</button>
      {flash}
    </form>
  );
}

function useCategories(): string[] {
  const cats: Record<string, number> | undefined = useQuery(api.catalog.categories, {});
  return Object.keys(cats ?? {}).sort();
}

function BudgetSection({ budget }: { budget: Record<string, BudgetBand> }) {
  const update = useMutation(api.preferences.update).withOptimisticUpdate(updateUpdate);
  const setOverride = useOverride();
  const categories = useCategories();
  const [flash, show] = useFlash();
  const [form, setForm] = useState({ category: "", min: "", max: "" });
  const id = useId();
  const entries = Object.entries(budget);

  function submit(e: FormEvent) {
    e.preventDefault();
    const min = Number(form.min), max = Number(form.max);
    if (!form.category) return show("error", "Choose a category for the budget.");
    if (!(form.min !== "" && form.max !== "" && min >= 0 && max >= min)) {
      return show("error", "Enter a budget where the lowest price is at least 0 and not above the highest.");
    }
    update({ budget: { [form.category]: { min, max } } }).then(
      () => show("ok", `Budget for ${form.category} set.`), (err) => show("error", describeError(err)));
    setForm({ category: "", min: "", max: "" });
  }

  return (
    <section className="card" aria-labelledby={`${id}-h`} data-section="budget">
      <h2 id={`${id}-h`}>Budget</h2>
      {entries.length === 0 ? <p className="empty">No budget learned or set yet.</p> : (
        <ul className="values" aria-label="Budget per category">
          {entries.map(([cat, b]) => (
            <li key={cat} className="value" data-category={cat}>
              <div className="value-head">
                <span className="value-name">{cat}</span>
                <span>{formatPrice(num(b.min))} – {formatPrice(num(b.max))}</span>
                <span className={`badge ${b.source === "user" ? "pinned" : "shown"}`}>{b.source === "user" ? "Set by you" : "Learned"}</span>
                {b.source !== "user" && <Confidence value={b.confidence} />}
              </div>
              <div className="actions">
                <button type="button" onClick={() => setForm({ category: cat, min: String(Math.round(num(b.min))), max: String(Math.round(num(b.max))) })}
                  aria-label={`Edit budget for ${cat}`}>Edit</button>
                {b.source === "user" && (
                  <button type="button" aria-label={`Clear the budget you set for ${cat}`}
                    onClick={() => setOverride({ facet: "budget", value: cat, action: "clear" }).catch((err) => show("error", describeError(err)))}>
                    Clear
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <form className="inline" onSubmit={submit} aria-label="Set a budget">
        <label htmlFor={`${id}-c`}>Category</label>
        <select id={`${id}-c`} value={form.category} onChange={(e) => setForm({ ...form, category: e.target.value })}>
          <option value="">Choose…</option>
          {categories.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <label htmlFor={`${id}-min`}>From €</label>
        <input id={`${id}-min`} type="number" inputMode="decimal" min="0" step="1" value={form.min}
          onChange={(e) => setForm({ ...form, min: e.target.value })} />
        <label htmlFor={`${id}-max`}>to €</label>
        <input id={`${id}-max`} type="number" inputMode="decimal" min="0" step="1" value={form.max}
          onChange={(e) => setForm({ ...form, max: e.target.value })} />
        <button type="submit">Set budget</button>
      </form>
      {flash}
    </section>
  );
}

const SIZE_HINTS = ["XS", "S", "M", "L", "XL", "XXL", "26", "28", "30", "32", "34", "36", "38", "40", "42", "44", "OS"];

function SizeSection({ size }: { size: Record<string, SizeChoice> }) {
  const update = useMutation(api.preferences.update).withOptimisticUpdate(updateUpdate);
  const setOverride = useOverride();
  const categories = useCategories();
  const [flash, show] = useFlash();
  const [form, setForm] = useState({ category: "", size: "" });
  const id = useId();
  const entries = Object.entries(size);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!form.category || !form.size.trim()) return show("error", "Choose a category and enter a size.");
    update({ size: { [form.category]: form.size.trim() } }).then(
      () => show("ok", `Size for ${form.category} set.`), (err) => show("error", describeError(err)));
    setForm({ category: "", size: "" });
  }

  return (
    <section className="card" aria-labelledby={`${id}-h`} data-section="size">
      <h2 id={`${id}-h`}>Sizes</h2>
      {entries.length === 0 ? <p className="empty">No size learned or set yet.</p> : (
        <ul className="values" aria-label="Size per category">
          {entries.map(([cat, s]) => (
            <li key={cat} className="value" data-category={cat}>
              <div className="value-head">
                <span className="value-name">{cat}</span>
                <span>Size {s.size}</span>
                <span className={`badge ${s.source === "user" ? "pinned" : "shown"}`}>{s.source === "user" ? "Set by you" : "Learned"}</span>
                {s.source !== "user" && <Confidence value={s.confidence} />}
              </div>
              <div className="actions">
                <button type="button" onClick={() => setForm({ category: cat, size: s.size })} aria-label={`Edit size for ${cat}`}>Edit</button>
                {s.source === "user" && (
                  <button type="button" aria-label={`Clear the size you set for ${cat}`}
                    onClick={() => setOverride({ facet: "size", value: cat, action: "clear" }).catch((err) => show("error", describeError(err)))}>
                    Clear
                  </button>
                )}
              </div>
            </li>
          ))}
        </ul>
      )}
      <form className="inline" onSubmit={submit} aria-label="Set a size">
        <label htmlFor={`${id}-c`}>Category</label>
        <select id={`${id}-c`} value={form.category} onChange={(e) => setForm({ ...form, category: e.target.value })}>
          <option value="">Choose…</option>
          {categories.map((c) => <option key={c} value={c}>{c}</option>)}
        </select>
        <label htmlFor={`${id}-s`}>Size</label>
        <input id={`${id}-s`} list={`${id}-sl`} value={form.size} size={6} onChange={(e) => setForm({ ...form, size: e.target.value })} />
        <datalist id={`${id}-sl`}>{SIZE_HINTS.map((s) => <option key={s} value={s} />)}</datalist>
        <button type="submit">Set size</button>
      </form>
      {flash}
    </section>
  );
}

function InspirationPhoto({ me }: { me: Me | null | undefined }) {
  const uploadUrl = useMutation(api.users.inspiration_upload_url);
  const savePhoto = useAction(api.users.save_inspiration_photo);
  const removePhoto = useMutation(api.users.remove_inspiration_photo);
  const [busy, setBusy] = useState(false);
  const [flash, show] = useFlash();
  const input = useRef<HTMLInputElement>(null);
  const id = useId();

  async function upload(e: FormEvent) {
    e.preventDefault();
    const file = input.current?.files?.[0];
    if (!file) return show("error", "Choose a photo first.");
    if (!file.type.startsWith("image/")) return show("error", "That file is not an image.");
    setBusy(true);
    try {
      const url = await uploadUrl({});
      const res = await fetch(url, { method: "POST", headers: { "Content-Type": file.type }, body: file });
      const body = await res.json().catch(() => null);
      if (!res.ok || !body?.storageId) throw new Error(body?.message ?? `The upload failed (HTTP ${res.status}).`);
      await savePhoto({ storageId: body.storageId });
      if (input.current) input.current.value = "";
      show("ok", "Photo saved.");
    } catch (err) {
      show("error", describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <section className="card" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Inspiration photo</h2>
      {me?.inspirationPhotoUrl
        ? <img className="inspiration" src={me.inspirationPhotoUrl} alt="Your inspiration photo" />
        : <p className="empty">No photo yet. Add one that shows a look you love.</p>}
      <form className="inline" onSubmit={upload}>
        <label htmlFor={`${id}-f`}>Photo</label>
        <input id={`${id}-f`} ref={input} type="file" accept="image/*" />
        <button type="submit" disabled={busy}>{busy ? "Uploading…" : "Upload"}</button>
        {me?.inspirationPhotoUrl && (
          <button type="button" disabled={busy} onClick={() => removePhoto({}).catch((err) => show("error", describeError(err)))}>Remove photo</button>
        )}
      </form>
      {flash}
    </section>
  );
}

function DataSection({ onSignOut }: { onSignOut: SignOut }) {
  const exportData = useAction(api.privacy.export);
  const forget = useMutation(api.privacy.forget);
  const reset = useMutation(api.preferences.reset_learned).withOptimisticUpdate(resetUpdate);
  const del = useMutation(api.privacy.delete_account);
  const [flash, show] = useFlash();
  const [busy, setBusy] = useState<"export" | "forget" | "reset" | "delete" | null>(null);
  const [dialog, setDialog] = useState<"reset" | "delete" | null>(null);
  const [confirmText, setConfirmText] = useState("");
  const [range, setRange] = useState({ from: "", to: "" });
  const id = useId();

  useEffect(() => {
    if (dialog === null) setConfirmText("");
  }, [dialog]);

  async function doExport() {
    setBusy("export");
    try {
      const data = await exportData({});
      const blob = new Blob([jsonText(data, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `preference-memory-export-${new Date().toISOString().slice(0, 10)}.json`;
      document.body.appendChild(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
      show("ok", "Your data was exported as a JSON file.");
    } catch (err) {
      show("error", `The export did not work. ${describeError(err)}`);
    } finally {
      setBusy(null);
    }
  }

  async function doForgetRange(e: FormEvent) {
    e.preventDefault();
    if (!range.from || !range.to) return show("error", "Choose both dates.");
    const from = new Date(`${range.from}T00:00:00`).getTime();
    const to = new Date(`${range.to}T23:59:59.999`).getTime();
    if (from > to) return show("error", "The first date must not be after the second.");
    setBusy("forget");
    try {
      const n = num((await forget({ from, to })).forgotten);
      show("ok", `Forgot ${n} signal${n === 1 ? "" : "s"} from that period.`);
    } catch (err) {
      show("error", describeError(err));
    } finally {
      setBusy(null);
    }
  }

  async function doReset() {
    setBusy("reset");
    try {
      const n = num((await reset({})).forgotten);
      setDialog(null);
      show("ok", `What we learned was reset (${n} signal${n === 1 ? "" : "s"} forgotten). Your own settings stay.`);
    } catch (err) {
      setDialog(null);
      show("error", describeError(err));
    } finally {
      setBusy(null);
    }
  }

  async function doDelete() {
    setBusy("delete");
    try {
      await del({});
    } catch (err) {
      setDialog(null);
      setBusy(null);
      show("error", `Your account was not deleted. ${describeError(err)}`);
      return;
    }
    // The shopper's data is gone; now the sign-in itself (email and password).
    setDialog(null);
    await onSignOut("Your account and all its data were deleted.", async () => {
      try {
        await deleteSignIn();
      } catch (err) {
        await signOut();
        return `Your data was deleted, but your sign-in could not be removed: ${describeError(err)} `
          + "Sign in and delete the account again to remove it.";
      }
    });
  }

  return (
    <section className="card data" aria-labelledby={`${id}-h`}>
      <h2 id={`${id}-h`}>Your data</h2>
      <div className="data-actions">
        <div>
          <button type="button" onClick={doExport} disabled={busy === "export"}>
            {busy === "export" ? "Exporting…" : "Export my data (JSON)"}
          </button>
          <p className="hint">Everything stored about you, in one file.</p>
        </div>
        <form className="inline" onSubmit={doForgetRange} aria-label="Forget activity in a period">
          <label htmlFor={`${id}-from`}>Forget activity from</label>
          <input id={`${id}-from`} type="date" value={range.from} onChange={(e) => setRange({ ...range, from: e.target.value })} />
          <label htmlFor={`${id}-to`}>to</label>
          <input id={`${id}-to`} type="date" value={range.to} onChange={(e) => setRange({ ...range, to: e.target.value })} />
          <button type="submit" disabled={busy === "forget"}>Forget</button>
        </form>
        <div>
          <button type="button" onClick={() => setDialog("reset")}>Reset what was learned…</button>
          <p className="hint">Forgets your activity and everything learned from it; what you set yourself stays.</p>
        </div>
        <div>
          <button type="button" className="danger" onClick={() => setDialog("delete")}>Delete my account…</button>
          <p className="hint">Removes your account and all of its data at once.</p>
        </div>
      </div>
      {flash}
      <ConfirmDialog open={dialog === "reset"} title="Reset what was learned?" confirmLabel="Reset" danger
        busy={busy === "reset"} onConfirm={doReset} onCancel={() => setDialog(null)}>
        <p>Your activity and everything learned from it will be forgotten. Values you pinned, removed or banned, and the budgets and sizes you set, stay.</p>
      </ConfirmDialog>
      <ConfirmDialog open={dialog === "delete"} title="Delete your account?" confirmLabel="Delete my account" danger
        busy={busy === "delete"} canConfirm={confirmText.trim().toLowerCase() === "delete"}
        onConfirm={doDelete} onCancel={() => setDialog(null)}>
        <p>This deletes your profile, saved items, activity and settings. It cannot be undone.</p>
        <p className="field">
          <label htmlFor={`${id}-confirm`}>Type DELETE to confirm</label>
          <input id={`${id}-confirm`} value={confirmText} autoComplete="off" onChange={(e) => setConfirmText(e.target.value)} />
        </p>
      </ConfirmDialog>
    </section>
  );
}
