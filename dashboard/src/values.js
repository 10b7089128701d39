// Convex values as the dashboard shows and reads them, validators as text, and formats.
//
// Values are written as JSON with two additions, so every Convex value can be read and
// typed: an int64 is a number followed by `n` (`42n`, as JavaScript writes a BigInt), and
// bytes, NaN, ±Infinity and -0 use Convex's JSON forms (`{"$bytes": "..."}`,
// `{"$float": "..."}`), which are also accepted on input, as is `{"$integer": "..."}`.
import { anyApi } from "convex/server";
import { convexToJson, jsonToConvex } from "convex/values";

export const api = anyApi._system.dashboard;

const MARK = "\u0000int64:";

function toDisplay(value) {
  if (typeof value === "bigint") return MARK + value.toString();
  if (value instanceof ArrayBuffer) return convexToJson(value);
  if (typeof value === "number" && (!Number.isFinite(value) || Object.is(value, -0))) return convexToJson(value);
  if (Array.isArray(value)) return value.map(toDisplay);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toDisplay(v)]));
  }
  return value;
}

/** A Convex value as text (`space` as JSON.stringify's), int64s as `42n`. */
export function formatValue(value, space) {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(toDisplay(value), null, space);
  return text.replace(/"\\u0000int64:(-?\d+)"/g, "$1n");
}

/** The text of a value in a grid cell: strings bare, the rest as compact JSON, cut short. */
export function cellText(value, most = 80) {
  const text = typeof value === "string" ? value : formatValue(value);
  return text.length > most ? text.slice(0, most - 1) + "…" : text;
}

// `42n` outside strings → {"$int64": "42"}, so that JSON.parse can read the text.
function markBigInts(text) {
  let out = "";
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      out += c;
      if (c === "\\") {
        out += text[++i] ?? "";
      } else if (c === '"') {
        inString = false;
      }
      continue;
    }
    if (c === '"') {
      inString = true;
      out += c;
      continue;
    }
    const m = /^-?\d+n/.exec(text.slice(i, i + 24));
    if (m && !/[\w.]/.test(text[i - 1] ?? "")) {
      out += `{"$int64":"${m[0].slice(0, -1)}"}`;
      i += m[0].length - 1;
      continue;
    }
    out += c;
  }
  return out;
}

function fromDisplay(value) {
  if (Array.isArray(value)) return value.map(fromDisplay);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && typeof value[keys[0]] === "string") {
      if (keys[0] === "$int64") return BigInt(value.$int64);
      if (["$integer", "$bytes", "$float"].includes(keys[0])) return jsonToConvex(value);
    }
    return Object.fromEntries(keys.map((k) => [k, fromDisplay(value[k])]));
  }
  return value;
}

/** Text typed by the operator → a Convex value; throws a SyntaxError saying what is wrong. */
export function parseValue(text) {
  return fromDisplay(JSON.parse(markBigInts(text)));
}

/** `parseValue`, with the error saying which input was not a value. */
export function typedValue(text, what = "Not a value") {
  try {
    return parseValue(text);
  } catch (err) {
    throw new Error(`${what}: ${err.message}`);
  }
}

/** The text of a Convex validator (Convex's JSON form) as one would write it: `v.object({...})`. */
export function validatorText(json, indent = "") {
  if (!json) return "none (anything goes)";
  const inner = indent + "  ";
  switch (json.type) {
    case "any":
    case "string":
    case "boolean":
    case "null":
    case "bytes":
      return `v.${json.type}()`;
    case "number":
      return "v.float64()";
    case "bigint":
      return "v.int64()";
    case "id":
      return `v.id(${JSON.stringify(json.tableName)})`;
    case "literal":
      return `v.literal(${formatValue(jsonToConvex(json.value))})`;
    case "array":
      return `v.array(${validatorText(json.value, indent)})`;
    case "record":
      return `v.record(${validatorText(json.keys, indent)}, ${validatorText(json.values, indent)})`;
    case "union":
      return `v.union(${json.value.map((m) => validatorText(m, indent)).join(", ")})`;
    case "object": {
      const fields = Object.entries(json.value);
      if (!fields.length) return "v.object({})";
      const lines = fields.map(([name, f]) => {
        const text = validatorText(f.fieldType, inner);
        return `${inner}${name}: ${f.optional ? `v.optional(${text})` : text},`;
      });
      return `v.object({\n${lines.join("\n")}\n${indent}})`;
    }
    default:
      return JSON.stringify(json);
  }
}

/** Python functions may return ints as int64 (BigInt here): numbers for arithmetic. */
export function num(x) {
  return typeof x === "bigint" ? Number(x) : x;
}

export function formatBytes(n) {
  n = num(n);
  if (typeof n !== "number" || !Number.isFinite(n)) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatMs(ms) {
  ms = num(ms);
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "–";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 1 : 0)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
}

export function formatRate(x) {
  x = num(x);
  if (typeof x !== "number" || !Number.isFinite(x)) return "–";
  return x >= 100 ? Math.round(x).toLocaleString() : x.toFixed(x >= 10 ? 1 : 2);
}

export function formatTime(ms, withDate = false) {
  ms = num(ms);
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "–";
  const d = new Date(ms);
  const time = d.toLocaleTimeString(undefined, { hour12: false });
  return withDate ? `${d.toLocaleDateString()} ${time}` : time;
}

/** "3 min ago", "in 2 h": how far a moment is from now. */
export function formatAge(ms, now = Date.now()) {
  ms = num(ms);
  if (typeof ms !== "number" || !Number.isFinite(ms)) return "–";
  const diff = (now - ms) / 1000;
  const abs = Math.abs(diff);
  const [value, unit] =
    abs < 60 ? [abs, "s"] : abs < 3600 ? [abs / 60, "min"] : abs < 86400 ? [abs / 3600, "h"] : [abs / 86400, "d"];
  const text = `${Math.floor(value)} ${unit}`;
  return diff >= 0 ? `${text} ago` : `in ${text}`;
}

/** The part of a client error the operator needs: the server's message, without the client's wrapping. */
export function errorText(err) {
  const text = String(err?.data !== undefined && typeof err.data === "string" ? err.data : (err?.message ?? err));
  return text
    .split("\n")
    .map((l) => l.replace(/^\[CONVEX [^\]]*\]\s*/, "").replace(/^\[Request ID: [^\]]*\]\s*/, ""))
    .filter((l) => l.trim() && l.trim() !== "Server Error" && !/^\s*Called by client/.test(l))
    .join("\n");
}
