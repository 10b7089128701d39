// The dashboard's shell: sign in with the admin key, then six views, routed by the hash
// (#/data/<table>, #/functions/<path>, #/logs, #/schedules, #/files, #/health).
import { useEffect, useState } from "react";
import { ConnectionBanner, ErrorBoundary } from "./common.jsx";
import { forgetKey, storedKey } from "./session.js";
import SignIn from "./SignIn.jsx";
import Data from "./Data.jsx";
import Functions from "./Functions.jsx";
import Logs from "./Logs.jsx";
import Schedules from "./Schedules.jsx";
import Files from "./Files.jsx";
import Health from "./Health.jsx";

const VIEWS = [
  { id: "data", label: "Data", component: Data },
  { id: "functions", label: "Functions", component: Functions },
  { id: "logs", label: "Logs", component: Logs },
  { id: "schedules", label: "Schedules", component: Schedules },
  { id: "files", label: "Files", component: Files },
  { id: "health", label: "Health", component: Health },
];

function parseHash() {
  const [view, ...rest] = window.location.hash.replace(/^#\/?/, "").split("/");
  const known = VIEWS.find((v) => v.id === view);
  return { view: known ? view : "data", arg: rest.length ? decodeURIComponent(rest.join("/")) : null };
}

export function go(view, arg) {
  window.location.hash = `#/${view}${arg ? "/" + encodeURIComponent(arg) : ""}`;
}

function useRoute() {
  const [route, setRoute] = useState(parseHash);
  useEffect(() => {
    const on = () => setRoute(parseHash());
    window.addEventListener("hashchange", on);
    return () => window.removeEventListener("hashchange", on);
  }, []);
  return route;
}

export default function App({ client }) {
  // Authenticated before any view subscribes: the system queries answer only the admin.
  const [adminKey, setAdminKey] = useState(() => {
    const key = storedKey();
    if (key) client.setAdminAuth(key);
    return key;
  });
  const route = useRoute();
  const signIn = (key) => {
    client.setAdminAuth(key);
    setAdminKey(key);
  };
  const signOut = () => {
    forgetKey();
    client.clearAuth();
    setAdminKey(null);
  };

  if (!adminKey) return <SignIn onSignedIn={signIn} />;

  const View = VIEWS.find((v) => v.id === route.view).component;
  return (
    <div className="shell">
      <header className="top">
        <span className="brand">prefmem dashboard</span>
        <span className="origin">{window.location.host}</span>
        <button type="button" className="link" onClick={signOut}>Sign out</button>
      </header>
      <nav className="views" aria-label="Views">
        {VIEWS.map((v) => (
          <a key={v.id} href={`#/${v.id}`} aria-current={route.view === v.id ? "page" : undefined}>{v.label}</a>
        ))}
      </nav>
      <main>
        <ConnectionBanner />
        <ErrorBoundary what={VIEWS.find((v) => v.id === route.view).label} resetKey={`${route.view}/${route.arg}`}>
          <View arg={route.arg} adminKey={adminKey} />
        </ErrorBoundary>
      </main>
    </div>
  );
}
