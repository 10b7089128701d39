"""Right calls of tests/apps/typed through its generated `api.py`: `mypy --strict` finds
nothing here (test_python_types.py), and the same test runs it against a server."""

from __future__ import annotations

import sys

from convex import ConvexClient, ConvexInt64

import api


def main(url: str) -> None:
    client = ConvexClient(url)
    note: api.NotesId = api.notes_add(client, {
        "title": "first", "tags": ["a"], "priority": "low", "score": 1, "views": ConvexInt64(2), "done": False,
        "ratings": {"x": 1.5}, "flags": {"pinned": True, "color": None}, "content-type": "text/plain",
    })
    got = api.notes_get(client, {"id": note})
    assert got is not None and got["title"] == "first" and got["views"] == ConvexInt64(2)
    assert got["flags"]["color"] is None and "body" not in got
    renamed = api.notes_rename(client, {"id": note, "title": "second"})
    assert renamed["renamed"] and renamed["from"] == "first"
    viewed: list[api.NotesViewedAtLeastResultItem] = api.notes_viewed_at_least(client, {"views": ConvexInt64(1)})
    assert [(row["title"], row["views"].value) for row in viewed] == [("second", 2)]
    assert api.notes_echo_bytes(client, {"data": b"\x00\x01"}) == b"\x00\x01"
    literals = api.notes_literals(client)
    assert literals["yes"] is True and literals["half"] == 0.5
    person = api.admin_people_create(client, {"name": "Ada"})
    assert api.notes_counts(client, {"by": {person: [note]}}) == {person: 1.0}
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
