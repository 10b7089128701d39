// The page's shell: signed-out screen, authenticating the convex client with
// `client.setAuth(fetchToken)`, creating the user record, then the three pages.
import { useCallback, useEffect, useRef, useState } from "react";
import type { ReactNode } from "react";
import { useMutation } from "convex/react";
import type { ConvexReactClient } from "convex/react";
import { api, describeError } from "./api";
import { clearSession, endingSignInOnPurpose, fetchToken, loadSession, onSessionChange, signOut } from "./auth";
import type { Session } from "./auth";
import { ConnectionBanner, ErrorBoundary, Loading } from "./common";
import SignIn from "./SignIn";
import Shop from "./Shop";
import Saved from "./Saved";
import Profile from "./Profile";

/** Sign out and show `message`; `end` ends the sign-in on the server (default: sign out),
 * and may return another message to show (it failed in part). */
export type SignOut = (message?: string, end?: () => Promise<string | void>) => Promise<void>;

const PAGES = [
  { path: "/", label: "Shop", title: "Shop" },
  { path: "/saved", label: "Saved", title: "Saved items" },
  { path: "/profile", label: "Profile", title: "Your profile" },
];

function currentPath() {
  const p = window.location.hash.replace(/^#/, "") || "/";
  return PAGES.some((x) => x.path === p) ? p : "/";
}

function useHashRoute() {
  const [path, setPath] = useState(currentPath);
  useEffect(() => {
    const on = () => setPath(currentPath());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return path;
}

export default function App({ client }: { client: ConvexReactClient }) {
  const [session, setSession] = useState(loadSession);
  const [authState, setAuthState] = useState<"checking" | "signedOut" | "ready">(session ? "checking" : "signedOut");
  const [notice, setNotice] = useState<string | null>(null);
  const userKey = session?.user?.id ?? null;

  // Another tab signed in, refreshed or signed out.
  useEffect(() => onSessionChange((s) => {
    setSession((prev) => {
      if (!s && prev) setNotice("You were signed out in another tab.");
      return s;
    });
  }), []);

  useEffect(() => {
    if (!userKey) {
      client.clearAuth();
      setAuthState("signedOut");
      return undefined;
    }
    let active = true;
    setAuthState("checking");
    client.setAuth(fetchToken, (isAuthenticated) => {
      if (!active) return;
      if (isAuthenticated) {
        setAuthState("ready");
      } else if (!endingSignInOnPurpose()) {  // else the page itself says why, once it is done
        clearSession();
        setSession(null);
        setNotice("Your session has ended. Please sign in again.");
      }
    });
    return () => {
      active = false;
    };
  }, [client, userKey]);

  const onSignedIn = useCallback((s: Session) => {
    setNotice(null);
    setSession(s);
  }, []);

  const onSignOut: SignOut = useCallback(async (message?: string, end: () => Promise<string | void> = signOut) => {
    // The client leaves the sign-in first: the server then ends a sign-in that this page's
    // socket no longer uses, instead of telling the client (which would restart its socket
    // while the page goes on signing out).
    client.clearAuth();
    const instead = await end();
    setSession(null);
    setNotice(instead || message || null);
  }, [client]);

  if (!session || authState === "signedOut") {
    return <SignIn onSignedIn={onSignedIn} notice={notice} />;
  }
  return (
    <Shell session={session} onSignOut={onSignOut}>
      {authState === "ready" ? <SignedIn session={session} onSignOut={onSignOut} /> : <Loading>Signing you in…</Loading>}
    </Shell>
  );
}

function Shell({ session, onSignOut, children }: { session: Session; onSignOut: SignOut; children: ReactNode }) {
  const path = useHashRoute();
  const who = session.user?.name || session.user?.email || "you";
  return (
    <div className="app">
      <a className="skip-link" href="#main" onClick={(e) => { e.preventDefault(); document.getElementById("main")?.focus(); }}>
        Skip to content
      </a>
      <header className="topbar">
        <p className="brand"><a href="#/">Preference Memory</a></p>
        <nav aria-label="Main">
          <ul>
            {PAGES.map((p) => (
              <li key={p.path}>
                <a href={`#${p.path}`} aria-current={path === p.path ? "page" : undefined}>{p.label}</a>
              </li>
            ))}
          </ul>
        </nav>
        <div className="account">
          <span className="who" title={session.user?.email}>{who}</span>
          <button type="button" onClick={() => onSignOut()}>Sign out</button>
        </div>
      </header>
      <ConnectionBanner />
      <main id="main" tabIndex={-1}>{children}</main>
    </div>
  );
}

type SetUp = { status: "loading" } | { status: "ok" } | { status: "error"; message: string };

function SignedIn({ session, onSignOut }: { session: Session; onSignOut: SignOut }) {
  const store = useMutation(api.users.store);
  const [state, setState] = useState<SetUp>({ status: "loading" });
  const path = useHashRoute();
  const run = useCallback(() => {
    setState({ status: "loading" });
    store({}).then(
      () => setState({ status: "ok" }),
      (err) => setState({ status: "error", message: describeError(err) }),
    );
  }, [store]);
  useEffect(() => {
    run();
  }, [run, session.user?.id]);

  // Move focus to the new page's heading so screen readers announce it.
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      return;
    }
    document.querySelector<HTMLElement>("main h1")?.focus();
  }, [path]);

  if (state.status === "loading") return <Loading>Setting up your account…</Loading>;
  if (state.status === "error") {
    return (
      <div className="notice error" role="alert">
        <p>We could not set up your account. {state.message}</p>
        <button type="button" onClick={run}>Try again</button>
      </div>
    );
  }
  const page = PAGES.find((p) => p.path === path) ?? PAGES[0];
  return (
    <ErrorBoundary key={path} what={page.title}>
      {path === "/saved" ? <Saved /> : path === "/profile" ? <Profile onSignOut={onSignOut} /> : <Shop />}
    </ErrorBoundary>
  );
}
