"""Wrong calls of tests/apps/typed through its generated `api.py`: each `# expect: CODE text`
names the mypy error code and a part of the message of the line after it."""

from __future__ import annotations

from convex import ConvexClient, ConvexInt64

import api

client = ConvexClient("http://127.0.0.1:9")
FLAGS: api.NotesAddArgsFlags = {"pinned": False}

# expect: typeddict-item Missing key "title"
api.notes_add(client, {"tags": [], "priority": "low", "score": 1, "views": ConvexInt64(1), "done": False,
                       "ratings": {}, "flags": FLAGS})
api.notes_add(client, {"title": "t", "tags": [], "priority": "low", "score": 1, "views": ConvexInt64(1),
                       # expect: typeddict-item "priority" has type "Literal['low', 'high']"
                       "done": False, "ratings": {}, "flags": FLAGS, "priority": "medium"})
api.notes_add(client, {"title": "t", "tags": [], "priority": "low", "score": 1, "done": False, "ratings": {},
                       # expect: typeddict-item "views" has type "ConvexInt64"
                       "flags": FLAGS, "views": 3})
# expect: typeddict-unknown-key "colour"
bad_flags: api.NotesAddArgsFlags = {"pinned": True, "colour": "red"}
# expect: typeddict-item "id" has type "NotesId"
api.notes_get(client, {"id": "not an id"})
# expect: index Value of type "NotesGetResult1 | None" is not indexable
title = api.notes_get(client, {"id": api.NotesId("n")})["title"]
# expect: typeddict-item TypedDict "NotesRenameResult2" has no key "from"
former = api.notes_rename(client, {"id": api.NotesId("n"), "title": "t"})["from"]
# expect: dict-item Dict entry 0 has incompatible type "str"
api.notes_counts(client, {"by": {"someone": []}})
# expect: assignment Incompatible types in assignment (expression has type "bytes", variable has type "str")
text: str = api.notes_echo_bytes(client, {"data": b""})
# expect: arg-type Argument 2 to "notes_literals" has incompatible type "dict[str, int]"
api.notes_literals(client, {"extra": 1})
# expect: arg-type Argument 2 to "admin_people_named" has incompatible type "None"
api.admin_people_named(client, None)
# expect: attr-defined Module has no attribute "notes_delete"
api.notes_delete(client, {})
