// Saved and purchased items (saved_items:list), with unsave and "forget this item".
import { useId, useState } from "react";
import { useMutation, useQuery } from "convex/react";
import { api, describeError, formatDate, formatPrice } from "./api";
import type { SavedRow } from "./api";
import { Loading, useFlash } from "./common";
import { ProductImage, savedListUpdate } from "./ProductCard";

export default function Saved() {
  const items: SavedRow[] | undefined = useQuery(api.saved_items.list, {});
  const id = useId();
  const saved = (items ?? []).filter((r) => r.kind === "saved");
  const bought = (items ?? []).filter((r) => r.kind === "purchased");
  return (
    <section aria-labelledby={`${id}-h`}>
      <h1 id={`${id}-h`} tabIndex={-1}>Saved items</h1>
      {items === undefined && <Loading>Loading your saved items…</Loading>}
      {items !== undefined && (
        <>
          <h2>Saved ({saved.length})</h2>
          {saved.length === 0
            ? <p className="empty">Nothing saved yet. Use “Save” on a product to keep it here.</p>
            : <ul className="list" aria-label="Saved items">{saved.map((r) => <Row key={r._id} row={r} />)}</ul>}
          <h2>Bought ({bought.length})</h2>
          {bought.length === 0
            ? <p className="empty">No purchases yet.</p>
            : <ul className="list" aria-label="Purchases">{bought.map((r) => <Row key={r._id} row={r} />)}</ul>}
        </>
      )}
    </section>
  );
}

function Row({ row }: { row: SavedRow }) {
  const p = row.product;
  const remove = useMutation(api.saved_items.remove).withOptimisticUpdate(savedListUpdate(row.productId, p, false));
  const forget = useMutation(api.privacy.forget);
  const [busy, setBusy] = useState(false);
  const [flash, show] = useFlash();
  const title = p?.title ?? "A product that is no longer in the catalogue";

  async function run(fn: () => Promise<unknown>, ok?: string) {
    setBusy(true);
    try {
      await fn();
      if (ok) show("ok", ok);
    } catch (err) {
      show("error", describeError(err));
    } finally {
      setBusy(false);
    }
  }

  return (
    <li className="row-item" data-product-id={row.productId}>
      {p && <ProductImage product={p} />}
      <div className="body">
        <p className="title"><strong>{title}</strong></p>
        {p && <p className="meta">{p.brand} · {p.category} · {formatPrice(p.price)}{row.size ? ` · size ${row.size}` : ""}</p>}
        <p className="hint">{row.kind === "saved" ? "Saved" : "Bought"} {formatDate(row.createdAt)}</p>
        <div className="actions">
          {row.kind === "saved" && (
            <button type="button" disabled={busy} aria-label={`Remove ${title} from saved items`}
              onClick={() => run(() => remove(String(row._id).startsWith("optimistic-") ? { productId: row.productId } : { id: row._id }))}>Remove</button>
          )}
          <button type="button" disabled={busy} aria-label={`Forget everything about ${title}`}
            title="It was a gift, or not for me: stop learning from this item"
            onClick={() => run(() => forget({ productId: row.productId }), "Forgotten: this item no longer shapes your profile.")}>
            Forget this item
          </button>
        </div>
        {flash}
      </div>
    </li>
  );
}
