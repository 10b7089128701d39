// Function references of the app's contract (../shared/docs/PREFERENCES.md) and turning
// errors into sentences a shopper can act on.
import { anyApi } from "convex/server";

export const api = anyApi;

const CODE_MESSAGES = {
  UNAUTHENTICATED: "You are signed out. Please sign in again.",
  NO_USER: "Your account is still being set up. Please try again in a moment.",
};

/** A plain-words message for any error thrown by the client or a function. */
export function describeError(err) {
  if (!err) return "Something went wrong. Please try again.";
  const data = err.data;
  if (data && typeof data === "object" && typeof data.message === "string" && data.message) {
    const msg = data.message;
    return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".");
  }
  if (data && typeof data === "object" && CODE_MESSAGES[data.code]) return CODE_MESSAGES[data.code];
  if (typeof data === "string" && data) return data;
  const text = String(err.message ?? err);
  if (/Connection lost while action was in flight/i.test(text)) {
    return "The connection dropped while this was running. Please try again.";
  }
  if (/Failed to fetch|NetworkError|Load failed/i.test(text)) {
    return "We could not reach the server. Check your connection and try again.";
  }
  // "[CONVEX M(x:y)] [Request ID: ...] Server Error\nUncaught Error: what\n  Called by client"
  const lines = text
    .split("\n")
    .map((l) => l.replace(/^\[CONVEX [^\]]*\]\s*/, "").replace(/^\[Request ID: [^\]]*\]\s*/, "").trim())
    .filter((l) => l && l !== "Server Error" && !/^Called by (client|server)/.test(l) && !/^at /.test(l));
  let first = lines[0]?.replace(/^Uncaught (\w*Error): /, "") ?? "";
  if (/ArgumentValidationError|Value does not match validator/i.test(first)) {
    first = "Some of what you entered is not valid. Please check it and try again";
  }
  if (!first || first.length > 300) return "Something went wrong on the server. Please try again.";
  return first.charAt(0).toUpperCase() + first.slice(1) + (/[.!?]$/.test(first) ? "" : ".");
}

export function formatPrice(value) {
  value = typeof value === "bigint" ? Number(value) : value;
  if (typeof value !== "number" || !Number.isFinite(value)) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" }).format(value);
}

export function formatDate(ms) {
  ms = typeof ms === "bigint" ? Number(ms) : ms;
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "never";
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

export const FACET_LABELS = { style: "Styles", color: "Colours", brand: "Brands", category: "Categories" };
export const FACET_SINGULAR = { style: "style", color: "colour", brand: "brand", category: "category" };

export const DISMISS_REASONS = [
  { value: "", label: "No particular reason" },
  { value: "not my style", label: "Not my style" },
  { value: "wrong colour", label: "Wrong colour" },
  { value: "too pricey", label: "Too pricey" },
  { value: "not my brand", label: "Not my brand" },
  { value: "not a category I buy", label: "Not a category I buy" },
];

/**
 * A Python int reaches the page as a number; an int64 (prefmem's Int64, and the ints a
 * database written before ints became numbers still holds) arrives as a BigInt: turn those
 * into plain numbers for display, comparisons and JSON.
 */
export function num(x) {
  return typeof x === "bigint" ? Number(x) : x;
}

export function toPlain(value) {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

export function jsonText(value, space) {
  return JSON.stringify(value, (k, v) => (typeof v === "bigint" ? Number(v) : v), space);
}
