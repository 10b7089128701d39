// Signing in: paste the admin key once, or open the one-time link `prefmem dashboard` prints.
import { useEffect, useState } from "react";
import { useAttempt } from "./common.jsx";
import { checkAndKeep, redeem, takeLoginCode } from "./session.js";

export default function SignIn({ onSignedIn }) {
  const [key, setKey] = useState("");
  const { error, busy, attempt } = useAttempt();

  useEffect(() => {
    const code = takeLoginCode();
    if (code) attempt(async () => onSignedIn(await redeem(code)));
  }, []); // once, on arrival: the code is spent by its first use

  const submit = (event) => {
    event.preventDefault();
    attempt(async () => onSignedIn(await checkAndKeep(key)));
  };

  return (
    <main className="sign-in">
      <h1>prefmem dashboard</h1>
      <form onSubmit={submit}>
        <label htmlFor="admin-key">Admin key</label>
        <input id="admin-key" type="password" autoComplete="off" value={key} onChange={(e) => setKey(e.target.value)}
          placeholder="prefmem-admin|…" autoFocus />
        <button type="submit" disabled={busy}>{busy ? "Checking…" : "Sign in"}</button>
        {error && <p className="inline-error" role="alert">{error}</p>}
      </form>
      <p className="hint">
        The key is in the file <code>admin_key</code> next to the server's database (<code>.prefmem/admin_key</code> for
        <code> prefmem dev</code>). Or run <code>prefmem dashboard</code> on the server's machine: it prints a link
        that signs you in once. The key stays in this browser until you sign out.
      </p>
    </main>
  );
}
