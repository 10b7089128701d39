// The built-in password provider's HTTP endpoints (prefmem/auth/routes.py), for the page.
//
// A session is {token, refreshToken, expiresAt, user} kept in localStorage so every tab of
// the same browser profile shares it. Refresh tokens rotate on every use and presenting a
// spent one revokes the whole session, so refreshes are serialised across tabs with the
// Web Locks API and a tab first checks whether another tab already refreshed.

const KEY = "prefmem.session";
const LEEWAY_MS = 30_000;

export type User = { id: string; email?: string; name?: string };
export type Session = { token: string; refreshToken: string; expiresAt: number; user: User };

export class AuthRequestError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status: number) {
    super(message);
    this.code = code;
    this.status = status;
  }
}

async function post(path: string, body: object, bearer?: string): Promise<any> {
  let res: Response;
  try {
    res = await fetch(path, {
      method: "POST",
      headers: { "Content-Type": "application/json", ...(bearer ? { Authorization: `Bearer ${bearer}` } : {}) },
      body: JSON.stringify(body ?? {}),
    });
  } catch {
    throw new AuthRequestError("Offline", "We could not reach the server. Check your connection and try again.", 0);
  }
  let data: any = null;
  try {
    data = await res.json();
  } catch {
    data = null;
  }
  if (!res.ok) {
    const message = data && typeof data.message === "string" && data.message
      ? data.message.charAt(0).toUpperCase() + data.message.slice(1)
      : `The server could not handle the request (HTTP ${res.status}). Please try again.`;
    throw new AuthRequestError(data?.code ?? "HttpError", message, res.status);
  }
  return data;
}

export function loadSession(): Session | null {
  try {
    const s = JSON.parse(localStorage.getItem(KEY) ?? "null");
    return s && typeof s.token === "string" && typeof s.refreshToken === "string" ? s : null;
  } catch {
    return null;
  }
}

function saveSession(data: Session): Session {
  const session: Session = { token: data.token, refreshToken: data.refreshToken, expiresAt: data.expiresAt, user: data.user };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

export function clearSession(): void {
  localStorage.removeItem(KEY);
}

// Set while this tab ends its own sign-in (signing out, deleting the account). The server
// ends it on the open socket at once too, so the client's "no longer authenticated" that
// follows is expected, not news: the page says what it did instead.
let endingOnPurpose = false;

export function endingSignInOnPurpose(): boolean {
  return endingOnPurpose;
}

/** Calls `fn(session)` whenever another tab signs in, refreshes or signs out. */
export function onSessionChange(fn: (session: Session | null) => void): () => void {
  const handler = (event: StorageEvent) => {
    if (event.key === KEY || event.key === null) fn(loadSession());
  };
  window.addEventListener("storage", handler);
  return () => window.removeEventListener("storage", handler);
}

export async function signUp({ email, password, name }: { email: string; password: string; name?: string }): Promise<Session> {
  const session = saveSession(await post("/api/auth/signup", { email, password, ...(name ? { name } : {}) }));
  endingOnPurpose = false;
  return session;
}

export async function signIn({ email, password }: { email: string; password: string }): Promise<Session> {
  const session = saveSession(await post("/api/auth/signin", { email, password }));
  endingOnPurpose = false;
  return session;
}

export async function signOut(): Promise<void> {
  endingOnPurpose = true;
  const s = loadSession();
  clearSession();
  if (s) {
    try {
      await post("/api/auth/signout", { refreshToken: s.refreshToken }, s.token);
    } catch {
      // Signed out locally either way; the server's session simply expires.
    }
  }
}

/** Deletes the signed-in account itself (email and password) and ends every session of it. */
export async function deleteSignIn(): Promise<void> {
  const s = loadSession();
  if (!s) throw new AuthRequestError("InvalidToken", "You are not signed in.", 401);
  const token = (await fetchToken()) ?? undefined;
  endingOnPurpose = true;
  await post("/api/auth/delete-account", {}, token);
  clearSession();
}

function withLock<T>(fn: () => Promise<T>): Promise<T> {
  if (typeof navigator !== "undefined" && navigator.locks?.request) {
    return navigator.locks.request("prefmem-auth-refresh", fn);
  }
  return fn();
}

let lastHandedOut: string | null = null;

/**
 * The token fetcher for `client.setAuth`: the stored access token while it is fresh;
 * otherwise (or when the client asks to force a refresh) a new one from the refresh token.
 * Resolves to null when there is no usable session (the client then runs signed out).
 */
export function fetchToken({ forceRefreshToken = false }: { forceRefreshToken?: boolean } = {}): Promise<string | null> {
  return withLock(async () => {
    const s = loadSession();
    if (!s) {
      console.warn("prefmem auth: no session to take a token from");
      return null;
    }
    const fresh = s.expiresAt - LEEWAY_MS > Date.now();
    if (fresh && (!forceRefreshToken || (lastHandedOut !== null && s.token !== lastHandedOut))) {
      // Fresh, or another tab refreshed since this tab last handed a token out.
      lastHandedOut = s.token;
      return s.token;
    }
    try {
      const next = saveSession(await post("/api/auth/refresh", { refreshToken: s.refreshToken }));
      lastHandedOut = next.token;
      return next.token;
    } catch (err) {
      const code = err instanceof AuthRequestError ? err.code : String(err);
      console.warn(`prefmem auth: refreshing the token failed: ${code}`);
      if (code === "InvalidRefreshToken") {
        clearSession();
        return null;
      }
      // Offline or the server is restarting: keep the current token and let the client retry.
      lastHandedOut = s.token;
      return s.token;
    }
  });
}
