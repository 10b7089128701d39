// The official npm `convex` client against the chat example: subscribe, mutate, watch the update.
//
//   make example-chat    # in one terminal: serves examples/chat on http://127.0.0.1:3211
//   make example-node    # in another (installs examples/node_modules on first use)
//
// or: node examples/node_client.mjs [URL]. Node 20 has no global WebSocket, so the
// client is given the `ws` package's.
import WebSocket from "ws";
import { ConvexClient } from "convex/browser";
import { anyApi } from "convex/server";
import { ConvexError } from "convex/values";

const url = process.argv[2] ?? "http://127.0.0.1:3211";
const api = anyApi; // function references by path: api.messages.send is "messages:send"
const client = new ConvexClient(url, { webSocketConstructor: WebSocket, unsavedChangesWarning: false });

function show(label, messages) {
  console.log(`${label} (${messages.length} messages)`);
  for (const m of [...messages].reverse()) console.log(`  ${m.author}: ${m.body}`);
}

// Resolves with the first value of a subscription that satisfies `test`.
function watchUntil(query, args, label, test) {
  return new Promise((resolve) => {
    const unsubscribe = client.onUpdate(query, args, (value) => {
      label(value);
      if (test(value)) {
        unsubscribe();
        resolve(value);
      }
    });
  });
}

const channel = await client.mutation(api.channels.create, { name: "general" });
const body = `hello from node at ${new Date().toISOString()}`;

// Subscribe, then send: the subscription's callback fires with the new message.
const seen = watchUntil(
  api.messages.recent,
  { channel, count: 10 },
  (messages) => show("#general", messages),
  (messages) => messages.some((m) => m.body === body),
);
await client.mutation(api.messages.send, { channel, author: "node", body });
await seen;
console.log("saw my own message arrive");

try {
  await client.mutation(api.messages.send, { channel, author: "node", body: " " });
} catch (err) {
  if (err instanceof ConvexError) console.log("refused an empty message:", JSON.stringify(err.data));
  else throw err;
}

// A typing indicator that the scheduler expires on its own half a second later.
await client.mutation(api.typing.start, { channel, user: "node", ttl_ms: 500 });
await watchUntil(
  api.typing.who,
  { channel },
  (who) => console.log("typing:", who.length ? who.join(", ") : "nobody"),
  (who) => who.length === 0,
);
console.log("summary:", JSON.stringify(await client.action(api.messages.summarize, { channel })));
await client.close();
