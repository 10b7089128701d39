// The admin key: pasted once (or traded for the one-time code of `prefmem dashboard`'s
// link), checked against the server, then kept in this browser's localStorage.
import { ConvexHttpClient } from "convex/browser";
import { api } from "./values.js";

const KEY = "prefmem.dashboard.adminKey";

export function storedKey() {
  return localStorage.getItem(KEY);
}

export function forgetKey() {
  localStorage.removeItem(KEY);
}

/** Throws with the server's reason unless `key` is this server's admin key; keeps it if so. */
export async function checkAndKeep(key) {
  key = key.trim();
  if (!key) throw new Error("Paste the admin key first.");
  const http = new ConvexHttpClient(window.location.origin);
  http.setAdminAuth(key);
  try {
    await http.query(api.functions.list, {});
  } catch (err) {
    const text = String(err?.message ?? err);
    if (/admin key|Unauthenticated|401/i.test(text)) throw new Error("This is not the admin key of this server.");
    throw new Error(`The server did not accept the key: ${text}`);
  }
  localStorage.setItem(KEY, key);
  return key;
}

/** The login code in the page's address (`#login=...`), removed from it at once. */
export function takeLoginCode() {
  const m = /(?:^#|&)login=([^&]+)/.exec(window.location.hash);
  if (!m) return null;
  history.replaceState(null, "", window.location.pathname + "#/data");
  return decodeURIComponent(m[1]);
}

/** Trade a one-time login code for the admin key. */
export async function redeem(code) {
  const reply = await fetch("/api/dashboard/login", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ code }),
  });
  const body = await reply.json().catch(() => ({}));
  if (!reply.ok) throw new Error(body.message || `The server answered ${reply.status}.`);
  return checkAndKeep(body.adminKey);
}
