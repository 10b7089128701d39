"""Text search on FTS5: relevance order, prefix on the last term, filters, transactions, reactivity."""

from __future__ import annotations

from pathlib import Path

import pytest

from prefmem.reactivity import Subscriptions
from prefmem.runner import FunctionFailed
from prefmem.testing import TestBackend

pytestmark = pytest.mark.engines

APP = Path(__file__).resolve().parent.parent / "apps" / "library"


@pytest.fixture
async def backend():
    async with TestBackend(APP / "functions", APP / "schema.py") as b:
        yield b


async def test_relevance_order_and_prefix_of_last_term(backend):
    for title, shelf in [("The Sea and the Sea", "fiction"), ("A Sea Voyage", "travel"),
                         ("Mountains of the Mind", "travel"), ("Seashore Life", "science")]:
        await backend.mutation("books:add", {"title": title, "shelf": shelf})
    # "sea" twice in a short title ranks first; the prefix "sea" also finds "Seashore".
    assert await backend.query("books:search", {"text": "sea"}) == [
        "The Sea and the Sea", "A Sea Voyage", "Seashore Life"]
    assert await backend.query("books:search", {"text": "mountains mi"}) == ["Mountains of the Mind"]
    assert await backend.query("books:search", {"text": "sea", "shelf": "travel"}) == ["A Sea Voyage"]
    assert await backend.query("books:search", {"text": "café"}) == []


async def test_a_document_is_found_by_the_words_it_contains_as_fts5_reads_them(backend):
    # FTS5 keeps ligatures, fractions and some accented letters as they are; terms folded
    # any other way (NFKD made "fine", "12", "aesir") missed the very words of the title.
    await backend.mutation("books:add", {"title": "ﬁne ½ Ǽsir", "shelf": "x"})
    for text in ["ﬁne", "½", "ǽsir", "ǼSIR", "ǽs"]:
        assert await backend.query("books:search", {"text": text}) == ["ﬁne ½ Ǽsir"], text
    assert await backend.query("books:search", {"text": "fine"}) == []


async def test_search_sees_own_writes_and_rollback_leaves_nothing(backend):
    assert await backend.mutation("books:add_and_search", {"title": "Brand New Book", "text": "brand"}) == [
        "Brand New Book"]
    await backend.mutation("books:add", {"title": "Old Book", "shelf": "x"})
    assert sorted(await backend.query("books:search", {"text": "book"})) == ["Brand New Book", "Old Book"]


async def test_updates_and_deletes_are_searchable_at_once(backend):
    book = await backend.mutation("books:add", {"title": "Winter Tales", "shelf": "x"})
    await backend.mutation("books:retitle", {"id": book, "title": "Summer Tales"})
    assert await backend.query("books:search", {"text": "winter"}) == []
    assert await backend.query("books:search", {"text": "summer"}) == ["Summer Tales"]
    await backend.mutation("books:remove", {"id": book})
    assert await backend.query("books:search", {"text": "summer"}) == []


async def test_a_filter_on_a_field_the_index_does_not_declare_is_a_clear_error(backend):
    with pytest.raises(FunctionFailed, match="'year' is not a filter field"):
        await backend.query("books:search_by_year", {})


async def test_subscribed_search_reruns_only_for_matching_writes(backend):
    subs = Subscriptions(backend.app)
    fn = backend.app.registry.get("books:search")

    class Recorder:
        def __init__(self):
            self.flushes = []

        def on_flush(self, ts, changed):
            self.flushes.append([live.outcome.value for live in changed])

    rec = Recorder()
    async with subs.current() as snapshot:
        live = subs.subscribe(fn, {"text": "dragon"}, None, None, rec, snapshot)
    assert live.outcome.value == []
    await backend.mutation("books:add", {"title": "Gardening Basics", "shelf": "x"})
    await subs.settled()
    assert rec.flushes == []  # no term in common: not rerun
    await backend.mutation("books:add", {"title": "The Dragon Reborn", "shelf": "x"})
    await subs.settled()
    assert rec.flushes == [[["The Dragon Reborn"]]]
    await backend.mutation("books:add", {"title": "Dragonflies", "shelf": "y"})  # prefix of the last term
    await subs.settled()
    assert rec.flushes[-1] == [["The Dragon Reborn", "Dragonflies"]]
