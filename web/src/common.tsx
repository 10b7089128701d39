// Small shared pieces: error boundary, connection banner, switch, confirm dialog, notices.
import { Component, useEffect, useId, useRef, useState } from "react";
import type { ReactNode } from "react";
import { useConvexConnectionState } from "convex/react";
import { describeError } from "./api";

type BoundaryProps = { what?: string; children: ReactNode };

/** Catches a failed query (useQuery throws) and says so in words, with a retry. */
export class ErrorBoundary extends Component<BoundaryProps, { error: unknown }> {
  constructor(props: BoundaryProps) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error: unknown) {
    return { error };
  }
  componentDidCatch(error: unknown) {
    console.warn("prefmem page:", error);
  }
  render() {
    if (this.state.error) {
      return (
        <div className="notice error" role="alert">
          <p>
            <strong>{this.props.what ?? "This part of the page"} could not be shown.</strong>{" "}
            {describeError(this.state.error)}
          </p>
          <button type="button" onClick={() => this.setState({ error: null })}>Try again</button>
        </div>
      );
    }
    return this.props.children;
  }
}

/** "Connecting…" before the first connection, "Offline — reconnecting…" after a drop. */
export function ConnectionBanner() {
  const state = useConvexConnectionState();
  const [slowStart, setSlowStart] = useState(false);
  const [browserOffline, setBrowserOffline] = useState(typeof navigator !== "undefined" && navigator.onLine === false);
  useEffect(() => {
    const t = setTimeout(() => setSlowStart(true), 1500);
    const on = () => setBrowserOffline(false);
    const off = () => setBrowserOffline(true);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      clearTimeout(t);
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, []);
  let text: string | null = null;
  if (!state.isWebSocketConnected) {
    if (state.hasEverConnected) {
      const pending = state.inflightMutations > 0
        ? ` ${state.inflightMutations} change${state.inflightMutations === 1 ? "" : "s"} will be sent when it is back.`
        : " What you see may be out of date.";
      text = (browserOffline ? "You are offline. Reconnecting when the network is back…" : "Connection lost. Reconnecting…") + pending;
    } else if (slowStart) {
      text = "Connecting to the server…";
    }
  }
  return (
    <div className="connection" role="status" aria-live="polite" data-connected={state.isWebSocketConnected ? "yes" : "no"}>
      {text && <p className="notice warning">{text}</p>}
    </div>
  );
}

/** An accessible on/off switch (a checkbox with role="switch"). */
export function Switch({ checked, onChange, label, description, disabled }: {
  checked: boolean;
  onChange: (checked: boolean) => void;
  label: string;
  description?: string;
  disabled?: boolean;
}) {
  const id = useId();
  return (
    <div className="switch-row">
      <input id={id} type="checkbox" role="switch" className="switch" checked={!!checked} disabled={disabled}
        aria-describedby={description ? `${id}-d` : undefined} onChange={(e) => onChange(e.target.checked)} />
      <label htmlFor={id}>{label}</label>
      {description && <p id={`${id}-d`} className="hint">{description}</p>}
    </div>
  );
}

/** A modal confirmation (native <dialog>: focus trap and Escape come with it). */
export function ConfirmDialog({ open, title, children, confirmLabel, danger, busy, onConfirm, onCancel, canConfirm = true }: {
  open: boolean;
  title: string;
  children: ReactNode;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  canConfirm?: boolean;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const titleId = useId();
  return (
    <dialog ref={ref} aria-labelledby={titleId} onCancel={(e) => { e.preventDefault(); onCancel(); }}>
      <form method="dialog" onSubmit={(e) => { e.preventDefault(); if (canConfirm && !busy) onConfirm(); }}>
        <h2 id={titleId}>{title}</h2>
        {children}
        <div className="row">
          <button type="button" onClick={onCancel}>Cancel</button>
          <button type="submit" className={danger ? "danger" : "primary"} disabled={!canConfirm || busy}>
            {busy ? "Working…" : confirmLabel}
          </button>
        </div>
      </form>
    </dialog>
  );
}

export function Loading({ children = "Loading…" }: { children?: ReactNode }) {
  return <p className="loading" role="status">{children}</p>;
}

export type FlashKind = "ok" | "info" | "error";
export type ShowFlash = (kind: FlashKind, text: string, ms?: number) => void;

/** A short-lived status line for the result of an action (announced politely). */
export function useFlash(): [ReactNode, ShowFlash, () => void] {
  const [flash, setFlash] = useState<{ kind: FlashKind; text: string } | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const show: ShowFlash = (kind, text, ms = kind === "error" ? 0 : 4000) => {
    clearTimeout(timer.current);
    setFlash({ kind, text });
    if (ms) timer.current = setTimeout(() => setFlash(null), ms);
  };
  const node = (
    <div className="flash" role={flash?.kind === "error" ? "alert" : "status"} aria-live="polite">
      {flash && <p className={`notice ${flash.kind}`}>{flash.text}</p>}
    </div>
  );
  return [node, show, () => setFlash(null)];
}
