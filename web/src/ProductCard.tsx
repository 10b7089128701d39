// One product with the shopper's actions: like, save, dismiss (with a reason), buy.
import { useId, useState } from "react";
import type { FormEvent } from "react";
import type { OptimisticLocalStore } from "convex/browser";
import { useMutation } from "convex/react";
import { api, describeError, DISMISS_REASONS, formatPrice } from "./api";
import type { DismissReason, Id, Product, SavedRow } from "./api";
import { useFlash } from "./common";

export function ProductImage({ product }: { product: Product }) {
  if (product.imageUrl) {
    return <img className="thumb" src={product.imageUrl} alt="" loading="lazy" width="160" height="160" />;
  }
  return <div className="thumb placeholder" aria-hidden="true">{(product.category || "?").slice(0, 1).toUpperCase()}</div>;
}

/** Shows a product saved, or not, in every saved_items:list the page holds, before the server says so. */
export function savedListUpdate(productId: Id<"products">, product: Product | null, add: boolean) {
  return (store: OptimisticLocalStore, args: object) => {
    const size = "size" in args && typeof args.size === "string" ? args.size : undefined;
    for (const { args: qArgs, value } of store.getAllQueries(api.saved_items.list)) {
      const rows: SavedRow[] | undefined = value;
      if (rows === undefined) continue;
      if (qArgs.kind === "purchased") continue;
      if (add) {
        if (rows.some((r) => r.productId === productId && r.kind === "saved")) continue;
        const row = { _id: `optimistic-${productId}`, _creationTime: Date.now(), productId, kind: "saved",
          createdAt: Date.now(), product, ...(size ? { size } : {}) };
        store.setQuery(api.saved_items.list, qArgs, [row, ...rows]);
      } else {
        store.setQuery(api.saved_items.list, qArgs, rows.filter((r) => !(r.productId === productId && r.kind === "saved")));
      }
    }
  };
}

export default function ProductCard({ product, reasons, saved, rank }: {
  product: Product;
  reasons?: string[];
  saved: boolean;
  rank?: number;
}) {
  const id = useId();
  const log = useMutation(api.interactions.log);
  const forget = useMutation(api.privacy.forget);
  const addSaved = useMutation(api.saved_items.add).withOptimisticUpdate(savedListUpdate(product._id, product, true));
  const removeSaved = useMutation(api.saved_items.remove).withOptimisticUpdate(savedListUpdate(product._id, product, false));
  const [liked, setLiked] = useState(false);
  const [panel, setPanel] = useState<"dismiss" | "buy" | null>(null);
  const [reason, setReason] = useState<DismissReason | "">("");
  const [size, setSize] = useState(product.sizes?.[0] ?? "");
  const [dismissed, setDismissed] = useState<{ signalId: Id<"signals"> | null } | null>(null);
  const [busy, setBusy] = useState(false);
  const [flash, show] = useFlash();
  const pid = product._id;

  // What interactions:log answers (it declares no `returns=`): whether the signal was logged, and its id.
  async function attempt(fn: () => Promise<any>, okText?: string): Promise<any> {
    setBusy(true);
    try {
      const r = await fn();
      if (r && r.logged === false) show("info", "Learning is paused, so this was not used to learn from.");
      else if (okText) show("ok", okText);
      return r ?? true;
    } catch (err) {
      show("error", describeError(err));
      return null;
    } finally {
      setBusy(false);
    }
  }

  const like = () => attempt(async () => {
    const r = await log({ type: "like", productId: pid });
    setLiked(true);
    return r;
  }, "Liked. We will show you more like this.");

  const toggleSave = () => saved
    ? attempt(() => removeSaved({ productId: pid }), "Removed from your saved items.")
    : attempt(() => addSaved({ productId: pid }), "Saved.");

  async function dismiss(e: FormEvent) {
    e.preventDefault();
    const r = await attempt(() => log({ type: "dismiss", productId: pid, ...(reason ? { reason } : {}) }));
    if (r) {
      setPanel(null);
      setDismissed({ signalId: r.signalId ?? null });
    }
  }

  async function undoDismiss() {
    const signalId = dismissed?.signalId;
    if (signalId) {
      const r = await attempt(() => forget({ signalId }), "Dismissal undone.");
      if (!r) return;
    }
    setDismissed(null);
  }

  async function buy(e: FormEvent) {
    e.preventDefault();
    const r = await attempt(() => log({ type: "purchase", productId: pid, ...(size ? { size } : {}) }),
      `Bought${size ? ` in size ${size}` : ""}. You will find it under Saved items.`);
    if (r) setPanel(null);
  }

  if (dismissed) {
    return (
      <article className="product dismissed" aria-labelledby={`${id}-t`}>
        <p id={`${id}-t`}><strong>{product.title}</strong> dismissed. We will show fewer items like it.</p>
        <button type="button" onClick={undoDismiss} disabled={busy}>Undo</button>
        {flash}
      </article>
    );
  }

  return (
    <article className="product" aria-labelledby={`${id}-t`} data-product-id={pid} data-sku={product.sku}>
      <ProductImage product={product} />
      <div className="body">
        <h3 id={`${id}-t`} className="title">
          {rank !== undefined && <span className="visually-hidden">{`Result ${rank}: `}</span>}
          {product.title}
        </h3>
        <p className="meta">
          <span className="brand-name">{product.brand}</span> · <span>{product.category}</span> ·{" "}
          <strong className="price">{formatPrice(product.price)}</strong>
        </p>
        <p className="tags" aria-label="Styles and colours">
          {(product.styles ?? []).map((s) => <span key={`s-${s}`} className="tag style">{s}</span>)}
          {(product.colors ?? []).map((c) => <span key={`c-${c}`} className="tag color">{c}</span>)}
        </p>
        {reasons && reasons.length > 0 && (
          <div className="reasons">
            <span className="reasons-label" id={`${id}-why`}>Why this:</span>
            <ul aria-labelledby={`${id}-why`}>
              {reasons.map((r) => <li key={r}>{r}</li>)}
            </ul>
          </div>
        )}
        <div className="actions" role="group" aria-label={`Actions for ${product.title}`}>
          <button type="button" aria-pressed={liked} onClick={like} disabled={busy}>{liked ? "Liked" : "Like"}</button>
          <button type="button" aria-pressed={!!saved} onClick={toggleSave} disabled={busy}>{saved ? "Saved" : "Save"}</button>
          <button type="button" aria-expanded={panel === "dismiss"} aria-controls={`${id}-dismiss`}
            onClick={() => setPanel(panel === "dismiss" ? null : "dismiss")}>Dismiss…</button>
          <button type="button" aria-expanded={panel === "buy"} aria-controls={`${id}-buy`}
            onClick={() => setPanel(panel === "buy" ? null : "buy")}>Buy…</button>
        </div>
        {panel === "dismiss" && (
          <form id={`${id}-dismiss`} className="panel" onSubmit={dismiss}>
            <label htmlFor={`${id}-reason`}>Why are you dismissing it?</label>
            <select id={`${id}-reason`} value={reason} onChange={(e) => setReason(e.target.value as DismissReason | "")} autoFocus>
              {DISMISS_REASONS.map((r) => <option key={r.value} value={r.value}>{r.label}</option>)}
            </select>
            <div className="row">
              <button type="submit" className="primary" disabled={busy}>Dismiss</button>
              <button type="button" onClick={() => setPanel(null)}>Cancel</button>
            </div>
          </form>
        )}
        {panel === "buy" && (
          <form id={`${id}-buy`} className="panel" onSubmit={buy}>
            {product.sizes.length > 0 && (
              <>
                <label htmlFor={`${id}-size`}>Size</label>
                <select id={`${id}-size`} value={size} onChange={(e) => setSize(e.target.value)} autoFocus>
                  {product.sizes.map((s) => <option key={s} value={s}>{s}</option>)}
                </select>
              </>
            )}
            <div className="row">
              <button type="submit" className="primary" disabled={busy}>Buy for {formatPrice(product.price)}</button>
              <button type="button" onClick={() => setPanel(null)}>Cancel</button>
            </div>
          </form>
        )}
        {flash}
      </div>
    </article>
  );
}
