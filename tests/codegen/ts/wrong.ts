// Wrong calls of tests/apps/typed's generated API. tests/codegen/test_tsc.py checks that `tsc`
// reports each one, at the line below its `// expect:` comment, with that code and text,
// and nothing else.
import type { ConvexHttpClient } from "convex/browser";
import { api, internal } from "./_generated/api.js";
import type { Doc, Id, TableNames } from "./_generated/dataModel.js";

declare const http: ConvexHttpClient;
declare const noteId: Id<"notes">;
declare const personId: Id<"people">;
declare const note: Doc<"notes">;
declare const event: Doc<"events">;

export async function wrongCalls(): Promise<void> {
  // expect: TS2322 Type 'number' is not assignable to type 'bigint'.
  await http.query(api.notes.viewed_at_least, { views: 3 });
  // expect: TS2322 Type '"urgent"' is not assignable to type '"high" | "low"'.
  await http.mutation(api.notes.add, { title: "t", tags: [], priority: "urgent", score: 1, views: 1n, done: false, ratings: {}, flags: { pinned: false } });
  // expect: TS2741 Property 'title' is missing in type '{ id: Id<"notes">; }'
  await http.mutation(api.notes.rename, { id: noteId });
  // expect: TS2322 Type 'Id<"people">' is not assignable to type 'Id<"notes">'.
  await http.query(api.notes.get, { id: personId });
  // expect: TS2339 Property 'remove' does not exist on type
  await http.mutation(api.notes.remove, { id: noteId });
  // expect: TS2345 Type '"internal"' is not assignable to type '"public"'.
  await http.mutation(internal.notes._wipe, {});
  // expect: TS2345 Type '"query"' is not assignable to type '"mutation"'.
  await http.mutation(api.notes.get, { id: noteId });
  // expect: TS2561 'colour' does not exist in type '{ pinned: boolean; color?: string | null | undefined; }'. Did you mean to write 'color'?
  await http.mutation(api.notes.add, { title: "t", tags: [], priority: "low", score: 1, views: 1n, done: false, ratings: {}, flags: { pinned: false, colour: "red" } });
  // expect: TS2322 Type 'string' is not assignable to type 'ArrayBuffer'.
  await http.query(api.notes.echo_bytes, { data: "bytes" });
  // expect: TS2322 Type 'number' is not assignable to type 'string'.
  const count: string = (await http.query(api.notes.counts, { by: { [personId]: [noteId] } }))[personId];
  // expect: TS2322 Type 'number' is not assignable to type 'never'.
  await http.query(api.notes.literals, { extra: 1 }); // a function of no arguments takes none
  // expect: TS2322 Type '3n' is not assignable to type '4n'.
  await http.query(api.notes.literals).then((l) => { const four: 4n = l.three; return four; });
  // expect: TS2339 Property 'from' does not exist on type '{ renamed: false; }'.
  await http.mutation(api.notes.rename, { id: noteId, title: "x" }).then((r) => (r.renamed ? "" : r.from));
  // expect: TS2322 Type '"nobody"' is not assignable to type 'TableNames'.
  const table: TableNames = "nobody";
  void count, table;
}

export function wrongDocuments(): void {
  // expect: TS2551 Property 'titel' does not exist on type
  void note.titel;
  // expect: TS2339 Property 'to' does not exist on type '{ _id: Id<"events">; _creationTime: number; kind: "created"; note: Id<"notes">; }'.
  void (event.kind === "created" ? event.to : event.from);
  // expect: TS2344 Type '"nobody"' does not satisfy the constraint 'SystemTableNames | TableNames'.
  const id: Id<"nobody"> | null = null;
  void id;
}
