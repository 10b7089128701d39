"""Gapless reactive pagination as `usePaginatedQuery` drives it, with the real npm client.

Each page is its own subscription, chained through the previous page's `continueCursor`;
rows are inserted and deleted before, inside, between and after the pages by another
client, and after every Transition the concatenated live pages must be exactly the full
ordered result at some point of the write sequence (no duplicates, no gaps), each page
keeping the end it was first given (its journal) — across a server restart too.
"""

from __future__ import annotations

import pytest

import httpx

pytestmark = pytest.mark.engines

LIST = "p"


def _mutation(server, path: str, args: dict):
    reply = httpx.post(server.url + "/api/mutation", json={"path": path, "args": [args]}, timeout=10)
    reply.raise_for_status()
    return reply.json()["value"]


def _page_opts(cursor: str | None, num_items: int = 3) -> dict:
    return {"numItems": num_items, "cursor": cursor, "id": 1}


def _concat(values: dict, pages: list[str]) -> list[str] | None:
    if any(key not in values for key in pages):
        return None
    return [row["label"] for key in pages for row in values[key]["page"]]


def test_pages_stay_gapless_under_inserts_and_deletes_and_a_restart(feed_server, node_driver):
    ranks = {f"r{r}": float(r) for r in range(10, 101, 10)}  # label -> rank: r10 ... r100
    ids = dict(zip(ranks, _mutation(feed_server, "items:add_many", {
        "list": LIST, "items": [{"rank": rank, "label": label} for label, rank in ranks.items()]})))

    node = node_driver(feed_server.url)
    pages: list[str] = []
    cursors: dict[str, str] = {}
    cursor = None
    while True:  # load pages as the hook's loadMore does, until the last one is done
        key = f"page{len(pages) + 1}"
        node.send(op="subscribe", key=key, path="items:page", args={"list": LIST, "paginationOpts": _page_opts(cursor)})
        value = node.wait(lambda e: e["ev"] == "update" and e["key"] == key)["value"]
        pages.append(key)
        cursors[key] = cursor = value["continueCursor"]
        if value["isDone"]:
            break
    assert len(pages) == 4
    first = node.wait(lambda e: e["ev"] == "snapshot" and _concat(e["values"], pages) is not None)
    assert _concat(first["values"], pages) == list(ranks)

    def expected() -> list[str]:
        return sorted(ranks, key=ranks.__getitem__)

    states = [expected()]
    ops = [("add", "r5", 5), ("add", "r25", 25), ("add", "r35", 35), ("del", "r30"), ("del", "r40"),
           ("add", "r200", 200), ("del", "r100"), ("add", "r95", 95), ("del", "r5"), ("add", "r1", 1)]
    since = len(node.events)
    for op in ops:
        if op[0] == "add":
            ranks[op[1]] = float(op[2])
            ids[op[1]] = _mutation(feed_server, "items:add", {"list": LIST, "rank": ranks[op[1]], "label": op[1]})
        else:
            del ranks[op[1]]
            _mutation(feed_server, "items:remove", {"id": ids.pop(op[1])})
        states.append(expected())

    def check_snapshots(start: int, final: list[str]) -> int:
        """Every snapshot from ``start`` on is one of ``states``, in order, ending at ``final``."""
        node.wait(lambda e: e["ev"] == "snapshot" and _concat(e["values"], pages) == final, since=start)
        position, seen = 0, 0
        for event in node.events[start:]:
            if event["ev"] != "snapshot":
                continue
            seen += 1
            values = event["values"]
            concat = _concat(values, pages)
            assert concat is not None and len(concat) == len(set(concat)), f"duplicates: {concat}"
            assert concat in states[position:], f"a gap or a stale page: {concat}"
            position = states.index(concat, position)
            for key in pages:  # every page keeps its end
                assert values[key]["continueCursor"] == cursors[key], key
            if concat == final:
                return seen
        raise AssertionError("unreachable")

    assert check_snapshots(since, states[-1]) >= 1
    last = node.wait(lambda e: e["ev"] == "snapshot" and _concat(e["values"], pages) == states[-1], since=since)
    page1 = [row["label"] for row in last["values"]["page1"]["page"]]
    assert page1 == ["r1", "r10", "r20", "r25"]  # grew past numItems: its end stayed where r30 was

    # The server restarts on the same port and data; the client reconnects and re-adds every
    # page with its journal, so page 1 keeps 4 rows (not a fresh 3) and nothing is lost.
    feed_server.restart()
    since = len(node.events)
    ranks["r15"] = 15.0
    _mutation(feed_server, "items:add", {"list": LIST, "rank": 15.0, "label": "r15"})
    states = [states[-1], expected()]
    check_snapshots(since, states[-1])
    last = node.wait(lambda e: e["ev"] == "snapshot" and _concat(e["values"], pages) == states[-1], since=since)
    assert [row["label"] for row in last["values"]["page1"]["page"]] == ["r1", "r10", "r15", "r20", "r25"]
