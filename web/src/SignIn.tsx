import { useId, useState } from "react";
import type { FormEvent } from "react";
import { signIn, signUp } from "./auth";
import type { Session } from "./auth";

export default function SignIn({ onSignedIn, notice }: { onSignedIn: (session: Session) => void; notice: string | null }) {
  const [mode, setMode] = useState<"signin" | "signup">("signin");
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = useId();
  const isUp = mode === "signup";

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = isUp ? await signUp({ email, password, name: name.trim() || undefined }) : await signIn({ email, password });
      onSignedIn(s);
    } catch (err) {
      setError((err instanceof Error && err.message) || "That did not work. Please try again.");
      setBusy(false);
    }
  }

  return (
    <div className="signin">
      <main id="main">
        <h1>Preference Memory</h1>
        <p className="lede">Shopping that remembers what you like — and shows you why.</p>
        {notice && <p className="notice info" role="status">{notice}</p>}
        <div className="tabs" role="tablist" aria-label="Account">
          <button type="button" role="tab" aria-selected={!isUp} onClick={() => { setMode("signin"); setError(null); }}>Sign in</button>
          <button type="button" role="tab" aria-selected={isUp} onClick={() => { setMode("signup"); setError(null); }}>Create account</button>
        </div>
        <form className="card form" onSubmit={submit} aria-labelledby={`${id}-h`}>
          <h2 id={`${id}-h`}>{isUp ? "Create your account" : "Sign in to your account"}</h2>
          {isUp && (
            <p className="field">
              <label htmlFor={`${id}-name`}>Name <span className="hint">(optional)</span></label>
              <input id={`${id}-name`} autoComplete="name" value={name} onChange={(e) => setName(e.target.value)} />
            </p>
          )}
          <p className="field">
            <label htmlFor={`${id}-email`}>Email</label>
            <input id={`${id}-email`} type="email" autoComplete="email" required value={email}
              onChange={(e) => setEmail(e.target.value)} />
          </p>
          <p className="field">
            <label htmlFor={`${id}-pw`}>Password</label>
            <input id={`${id}-pw`} type="password" autoComplete={isUp ? "new-password" : "current-password"} required
              minLength={isUp ? 8 : undefined} aria-describedby={isUp ? `${id}-pwh` : undefined} value={password}
              onChange={(e) => setPassword(e.target.value)} />
            {isUp && <span id={`${id}-pwh`} className="hint">At least 8 characters.</span>}
          </p>
          {error && <p className="notice error" role="alert">{error}</p>}
          <button type="submit" className="primary" disabled={busy}>
            {busy ? "Please wait…" : isUp ? "Create account" : "Sign in"}
          </button>
        </form>
      </main>
    </div>
  );
}
