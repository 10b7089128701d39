// The app's function references, typed from its Python validators by `prefmem codegen`
// (src/_generated, written by `make`; contract: ../shared/docs/PREFERENCES.md), the shapes
// of the results the page reads, and turning errors into sentences a shopper can act on.
import type { FunctionArgs, FunctionReturnType } from "convex/server";
import type { api as Api } from "./_generated/api";
import type { Doc, Id } from "./_generated/dataModel";

export { api } from "./_generated/api";
export type { Doc, Id };

/** A number, or an int64 (prefmem's Int64, and the ints a database written before ints became
 * numbers still holds), which the client decodes as BigInt. */
export type Numeric = number | bigint;

/** A product as the functions return it: the document with its image's URL. */
export type Product = Doc<"products"> & { imageUrl?: string | null };

/** A row of saved_items:list. */
export type SavedRow = Doc<"saved_items"> & { product: Product | null };

/** One facet as preferences:facets lists them, in the order the profile shows them (functions/_lib/catalog.FACET_INFO). */
export type FacetInfo = FunctionReturnType<typeof Api.preferences.facets>[number];
export type Facet = FacetInfo["name"];
export type ValueState = "shown" | "learning" | "pinned" | "removed" | "never";

/** One value of a facet in preferences:get (functions/_lib/profile_view.py). */
export type FacetValue = {
  value: string;
  source: "user" | "learned";
  state: ValueState;
  confidence?: Numeric;
  affinity?: Numeric;
  locked?: boolean;
  posterior?: Numeric | null; // P(the value is the shopper's); prior: before any evidence
  prior?: Numeric | null;
  evidence?: { items?: Numeric; signals?: Numeric; lastSeen?: Numeric | null };
};

type Learned = { source?: "user" | "learned"; confidence?: Numeric; locked?: boolean };
export type BudgetBand = Learned & { min: Numeric; max: Numeric };
export type SizeChoice = Learned & { size: string };

/** The effective profile, preferences:get. */
export type ProfileView = {
  facets: Partial<Record<Facet, FacetValue[]>>;
  budget: Record<string, BudgetBand>;
  size: Record<string, SizeChoice>;
  personalize: boolean;
  learningPaused: boolean;
  updatedAt?: Numeric;
};

/** users:me. */
export type Me = { _id: Id<"users">; email?: string; name?: string; inspirationPhotoUrl?: string | null };

/** One result of search:personalized. */
export type SearchResult = { product: Product; score: number; reasons: string[] };
export type SearchResponse = {
  results: SearchResult[];
  personalized: boolean;
  matched: number;
  terms: string[]; // the query's words
  unmatchedTerms: string[]; // those no product contains
  mostlyUnmatched: boolean; // at least half of them
  tookMs?: number;
};

const CODE_MESSAGES: Record<string, string> = {
  UNAUTHENTICATED: "You are signed out. Please sign in again.",
  NO_USER: "Your account is still being set up. Please try again in a moment.",
};

/** A plain-words message for any error thrown by the client or a function. */
export function describeError(err: unknown): string {
  if (!err) return "Something went wrong. Please try again.";
  const data = (err as { data?: unknown }).data;
  if (data && typeof data === "object") {
    const { message: msg, code } = data as { message?: unknown; code?: unknown };
    if (typeof msg === "string" && msg) return msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? "" : ".");
    if (typeof code === "string" && CODE_MESSAGES[code]) return CODE_MESSAGES[code];
  }
  if (typeof data === "string" && data) return data;
  const text = String((err as { message?: unknown }).message ?? err);
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

export function formatPrice(value: unknown): string {
  value = typeof value === "bigint" ? Number(value) : value;
  if (typeof value !== "number" || !Number.isFinite(value)) return "";
  return new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" }).format(value);
}

export function formatDate(ms: unknown): string {
  ms = typeof ms === "bigint" ? Number(ms) : ms;
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "never";
  return new Date(ms).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}


/** The reason codes interactions:log takes with a dismissal (typed from its validator). */
export type DismissReason = NonNullable<Extract<FunctionArgs<typeof Api.interactions.log>, { type: "dismiss" }>["reason"]>;

export const DISMISS_REASONS: { value: DismissReason | ""; label: string }[] = [
  { value: "", label: "No particular reason" },
  { value: "not_my_style", label: "Not my style" },
  { value: "wrong_color", label: "Wrong colour" },
  { value: "too_pricey", label: "Too pricey" },
  { value: "not_my_brand", label: "Not my brand" },
  { value: "not_my_category", label: "Not a category I buy" },
];

/**
 * A Python int reaches the page as a number; an int64 arrives as a BigInt: turn those into
 * plain numbers for display, comparisons and JSON.
 */
export function num(x: Numeric): number {
  return typeof x === "bigint" ? Number(x) : x;
}

export function toPlain(value: unknown): unknown {
  if (typeof value === "bigint") return Number(value);
  if (Array.isArray(value)) return value.map(toPlain);
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toPlain(v)]));
  }
  return value;
}

export function jsonText(value: unknown, space?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v), space);
}
