// Calls every kind of function of tests/apps/typed through its generated API: `tsc` checks
// the calls against the Python validators, then node runs the compiled file against a
// server (tests/e2e/test_codegen_client.py) and prints one JSON line per result.
import { ConvexClient, ConvexHttpClient } from "convex/browser";
import { api } from "./_generated/api.js";
import type { Doc, Id } from "./_generated/dataModel.js";

// The one bit of node this script uses (there is no @types/node here).
declare const process: { argv: string[] };

const url = process.argv[2];
const http = new ConvexHttpClient(url);

function print(label: string, value: unknown): void {
  const json = JSON.stringify(value, (_k, v: unknown) =>
    typeof v === "bigint" ? `${v}n` : v instanceof ArrayBuffer ? Array.from(new Uint8Array(v)) : v,
  );
  console.log(JSON.stringify({ label, value: JSON.parse(json) }));
}

const ada: Id<"people"> = await http.mutation(api.admin.people.create, { name: "Ada" });
const noteId: Id<"notes"> = await http.mutation(api.notes.add, {
  title: "first",
  tags: ["a", "b"],
  priority: "high",
  score: 1.5,
  views: 3n,
  done: false,
  attachment: new Uint8Array([1, 2, 255]).buffer,
  ratings: { taste: 4 },
  author: ada,
  flags: { pinned: true, color: null },
  "content-type": "text/plain",
});

const note: Doc<"notes"> | null = await http.query(api.notes.get, { id: noteId });
if (note === null) throw new Error("the note just added is missing");
const views: bigint = note.views;
print("note", { title: note.title, views, author: note.author === ada, flags: note.flags, attachment: note.attachment });

const renamed = await http.mutation(api.notes.rename, { id: noteId, title: "second" });
print("renamed", renamed.renamed ? renamed.from : "unchanged");

const page = await http.query(api.notes.list, { paginationOpts: { numItems: 10, cursor: null } });
print("page", page.page.length);

print("literals", await http.query(api.notes.literals));
print("bytes", await http.query(api.notes.echo_bytes, { data: new Uint8Array([7, 8]).buffer }));
const counts: Record<string, number> = await http.query(api.notes.counts, { by: { [ada]: [noteId] } });
print("counts", counts[ada]);
print("action", (await http.action(api.admin.people.create_and_count, { name: "Grace" })).found);

// The websocket client: a live query, updated by a mutation.
const client = new ConvexClient(url);
const seen: Array<Array<{ title: string; views: bigint }>> = [];
await new Promise<void>((resolve) => {
  const unsubscribe = client.onUpdate(api.notes.viewed_at_least, { views: 3n }, (rows) => {
    seen.push(rows);
    if (seen.length === 1) {
      void client.mutation(api.notes.add, {
        title: "third", tags: [], priority: "low", score: 0, views: 10n, done: true, ratings: {}, flags: { pinned: false },
      });
    } else if (rows.length === 2) {
      unsubscribe();
      resolve();
    }
  });
});
print("live", seen.map((rows) => rows.map((row) => `${row.title}:${row.views}`)));
await client.close();
