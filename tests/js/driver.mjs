// Drives the official npm `convex` clients for the Python end-to-end tests.
//
//   node driver.mjs http://127.0.0.1:PORT
//
// Reads one JSON command per line on stdin and writes one JSON event per line on stdout
// (lines starting with "{"; anything else on stdout is the client's own console output,
// such as the log lines of functions). Commands:
//   {"op":"subscribe","client":"a","key":"k","path":"mod:fn","args":{...}}
//   {"op":"unsubscribe","key":"k"}
//   {"op":"mutation"|"action","client":"a","key":"k","path":...,"args":{...}}
//   {"op":"http","method":"query"|"mutation"|"action"|"consistentQuery","key":"k","path":...,"args":{...}}
//   {"op":"httpAdminAuth","key":"k","adminKey":...,"identity":{...}?}  (ConvexHttpClient.setAdminAuth)
//   {"op":"close"}
// Events: {"ev":"ready"}, {"ev":"update","key","value"}, {"ev":"snapshot","values":{key: value}}
// (all subscriptions' latest values, emitted once after each batch of updates, i.e. after
// each Transition), {"ev":"queryError","key",...}, {"ev":"result","key","value"},
// {"ev":"error","key","message","convexError","data"}.
import readline from "node:readline";
import WebSocket from "ws";
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { ConvexError } from "convex/values";
import { makeFunctionReference } from "convex/server";

const url = process.argv[2];
const clients = new Map();
const subscriptions = new Map();
const latest = {};
let snapshotScheduled = false;
const http = new ConvexHttpClient(url);

function emit(event) {
  process.stdout.write(
    JSON.stringify(event, (_k, v) => (typeof v === "bigint" ? { $bigint: v.toString() } : v)) + "\n",
  );
}

function client(name = "a") {
  if (!clients.has(name)) {
    clients.set(name, new ConvexClient(url, { webSocketConstructor: WebSocket, unsavedChangesWarning: false }));
  }
  return clients.get(name);
}

function errorEvent(key, err) {
  return {
    ev: "error",
    key,
    message: String(err && err.message),
    convexError: err instanceof ConvexError,
    data: err instanceof ConvexError ? err.data : undefined,
  };
}

function scheduleSnapshot() {
  if (snapshotScheduled) return;
  snapshotScheduled = true;
  // Every callback of one Transition runs synchronously; the snapshot follows them all.
  setImmediate(() => {
    snapshotScheduled = false;
    emit({ ev: "snapshot", values: { ...latest } });
  });
}

async function run(cmd) {
  const ref = cmd.path ? makeFunctionReference(cmd.path) : undefined;
  switch (cmd.op) {
    case "subscribe": {
      const unsubscribe = client(cmd.client).onUpdate(
        ref,
        cmd.args ?? {},
        (value) => {
          latest[cmd.key] = value;
          emit({ ev: "update", key: cmd.key, value });
          scheduleSnapshot();
        },
        (err) => emit({ ...errorEvent(cmd.key, err), ev: "queryError" }),
      );
      subscriptions.set(cmd.key, unsubscribe);
      return;
    }
    case "unsubscribe":
      subscriptions.get(cmd.key)?.();
      subscriptions.delete(cmd.key);
      delete latest[cmd.key];
      return;
    case "mutation":
    case "action":
      try {
        const value = await client(cmd.client)[cmd.op](ref, cmd.args ?? {});
        emit({ ev: "result", key: cmd.key, value });
      } catch (err) {
        emit(errorEvent(cmd.key, err));
      }
      return;
    case "http":
      try {
        const value = await http[cmd.method](ref, cmd.args ?? {});
        emit({ ev: "result", key: cmd.key, value });
      } catch (err) {
        emit(errorEvent(cmd.key, err));
      }
      return;
    case "httpAdminAuth":
      http.setAdminAuth(cmd.adminKey, cmd.identity);
      emit({ ev: "result", key: cmd.key, value: null });
      return;
    case "close":
      for (const c of clients.values()) await c.close();
      emit({ ev: "closed" });
      process.exit(0);
  }
}

const rl = readline.createInterface({ input: process.stdin });
rl.on("line", (line) => {
  if (!line.trim()) return;
  run(JSON.parse(line)).catch((err) => emit({ ev: "driverError", message: String(err && err.stack) }));
});
rl.on("close", () => process.exit(0));
emit({ ev: "ready" });
