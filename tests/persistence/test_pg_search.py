"""PostgreSQL text search returns what FTS5 returns, in the same order (prefmem.persistence.pg_search).

The FTS5 side is production's own code: ``SqlitePersistence``'s FTS5 table, commit and
search; only the scores are read beside it, with FTS5's ``bm25()`` on the same table.
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from prefmem.database.search import MAX_TERM_LENGTH, doc_rowid, tokenize
from prefmem.persistence import pg_search
from prefmem.persistence.base import encode_document
from prefmem.persistence.sqlite import SqlitePersistence
from prefmem.values import encode_key

FILTERS = 2


@dataclass
class Changes:
    """One commit's final state of what it touched, as the committer hands it to persistence."""

    documents: dict = field(default_factory=dict)
    index_entries: dict = field(default_factory=dict)
    search_entries: dict = field(default_factory=dict)

    def reply_groups(self, ts: int) -> list:
        return []


class Engines:
    """One SQLite file and one PostgreSQL database; each example gets a fresh index on both."""

    def __init__(self, sqlite_path, postgres_url: str) -> None:
        self.sqlite = SqlitePersistence(sqlite_path)
        self.pg = psycopg.connect(postgres_url)
        self.ids = itertools.count(1)

    def new_index(self) -> int:
        index_id = next(self.ids)
        self.sqlite.create_search_table(index_id, FILTERS)
        with self.pg.transaction():
            pg_search.create(self.pg, index_id, FILTERS)
        return index_id

    def apply(self, index_id: int, writes: list[tuple[str, str | None, list[bytes]]]) -> None:
        """``(doc id, text or None to delete, filter keys)`` in order, as one transaction on each."""
        changes = Changes()
        entries = changes.search_entries.setdefault(index_id, {})
        for doc_id, text, keys in writes:
            value = None if text is None else encode_document({"_id": doc_id})
            changes.documents[doc_id] = ("docs", 0.0, value)
            entries[doc_rowid(doc_id)] = None if text is None else (text, keys, doc_id)
        commit = asyncio.run(self.sqlite.begin_commit())
        commit.write(commit.head_ts + 1, changes, b"")
        commit.finish()
        with self.pg.transaction():
            for doc_id, text, keys in writes:
                if text is None:
                    pg_search.delete(self.pg, index_id, doc_id)
                else:
                    pg_search.put(self.pg, index_id, doc_id, text, keys)

    def fts5(self, index_id: int, text: str, filters: list[tuple[int, bytes]], limit: int) -> list[tuple[str, float]]:
        """Production's FTS5 search (the ids), each with the ``-bm25()`` FTS5 gave it."""
        terms = tokenize(text)
        with self.sqlite.snapshot() as snap:
            ids = [doc_id for doc_id, _value in snap.search(index_id, terms, filters, limit)]
            if not ids:
                return []
            match = " OR ".join([*(f'"{t}"' for t in terms), f'"{terms[-1]}"*'])  # the query production runs
            scores = dict(snap._conn.execute(f"SELECT doc_id, -bm25(search_{index_id}) FROM search_{index_id} "
                                             f"WHERE search_{index_id} MATCH ?", (match,)))
        return [(doc_id, scores[doc_id]) for doc_id in ids]

    def postgres(self, index_id: int, text: str, filters: list[tuple[int, bytes]],
                 limit: int) -> list[tuple[str, float]]:
        with self.pg.transaction():
            return pg_search.search(self.pg, index_id, tokenize(text), filters, limit)

    def close(self) -> None:
        self.pg.close()
        self.sqlite.close()


@pytest.fixture(scope="module")
def engines(tmp_path_factory, postgres_url):
    both = Engines(tmp_path_factory.mktemp("fts5") / "data.sqlite3", postgres_url)
    yield both
    both.close()


LONG = "x" * (MAX_TERM_LENGTH + 8)
WORDS = ["sea", "Sea", "SÉA", "séa", "seas", "seashore", "se", "café", "cafe", "CAFÉ", "caffè", "naïve", "über",
         "Ǽsir", "ǽs", "ﬁne", "fine", "½", "the", "a", "ab", "abc", "x\u0301y", "日本", "日本語", LONG,
         LONG[:MAX_TERM_LENGTH], LONG[:MAX_TERM_LENGTH + 1], LONG + "z", "42", "4", "ΣΊΣΥΦΟΣ", "σίσυφος"]
SEPARATORS = [" ", " ", ", ", "-", "_", "'", "\u0301", " \u0301", "🙂"]

word = st.sampled_from(WORDS)
text = st.one_of(
    st.lists(st.tuples(word, st.sampled_from(SEPARATORS)), max_size=8).map(lambda ps: "".join(w + s for w, s in ps)),
    st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"), max_size=12),
)
# Few texts and ids, so that equal documents (equal scores, decided by id) are common.
texts = st.one_of(text, st.sampled_from(["sea", "the sea", "sea sea", "café ǽsir", ""]))
doc_ids = st.sampled_from([f"doc{i}" for i in range(12)] + ["Doc1", "doc10", "ä", "a"])
filter_values = st.lists(st.sampled_from(["red", "blue", 1.0, None]), min_size=FILTERS, max_size=FILTERS)
writes = st.lists(st.tuples(doc_ids, st.one_of(texts, texts, st.none()), filter_values), max_size=25)
queries = st.lists(st.tuples(
    st.one_of(st.lists(st.one_of(word, st.sampled_from(["s", "ca", "caf", "ǽ", "日", "x", LONG[:20]])), min_size=1,
                       max_size=4).map(" ".join), text),
    st.dictionaries(st.integers(0, FILTERS - 1), st.sampled_from(["red", "blue", 1.0, None]), max_size=FILTERS),
    st.sampled_from([1, 2, 3, 5, 100])), min_size=1, max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(rounds=st.lists(st.tuples(writes, queries), min_size=1, max_size=3))
def test_postgres_returns_the_ids_and_scores_fts5_returns_in_the_same_order(engines, rounds):
    index_id = engines.new_index()
    for batch, asked in rounds:
        engines.apply(index_id, [(d, t, [encode_key(v) for v in keys]) for d, t, keys in batch])
        for query, eqs, limit in asked:
            filters = [(position, encode_key(value)) for position, value in sorted(eqs.items())]
            assert engines.postgres(index_id, query, filters, limit) == engines.fts5(index_id, query, filters, limit)


def test_equal_scores_are_ordered_by_id_and_more_occurrences_rank_higher(engines):
    index_id = engines.new_index()
    none = [encode_key(None)] * FILTERS
    engines.apply(index_id, [("b", "the sea", none), ("a", "the sea", none), ("c", "sea sea sea", none),
                             ("d", "seashore", none), ("e", "mountains", none)])
    fts5 = engines.fts5(index_id, "sea", [], 10)
    assert [doc_id for doc_id, _ in fts5] == ["c", "a", "b", "d"]
    assert fts5[1][1] == fts5[2][1]
    assert engines.postgres(index_id, "sea", [], 10) == fts5


def test_words_longer_than_a_term_match_only_as_a_prefix(engines):
    index_id = engines.new_index()
    none = [encode_key(None)] * FILTERS
    engines.apply(index_id, [("long", LONG, none), ("cut", LONG[:MAX_TERM_LENGTH], none),
                             ("other", LONG + " " + LONG[:MAX_TERM_LENGTH] + "y", none)])
    for query in [LONG, LONG[:MAX_TERM_LENGTH] + " sea", LONG[:MAX_TERM_LENGTH], LONG[:MAX_TERM_LENGTH] + "y"]:
        fts5 = engines.fts5(index_id, query, [], 10)
        assert engines.postgres(index_id, query, [], 10) == fts5, query


def test_a_transaction_sees_its_own_writes_and_a_rollback_leaves_no_trace(postgres_url):
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            pg_search.create(conn, 9001, 0)
            assert pg_search.search(conn, 9001, ["words"], [], 10) == []
            pg_search.put(conn, 9001, "kept", "kept words", [])
        with pytest.raises(RuntimeError), conn.transaction():
            pg_search.put(conn, 9001, "gone", "gone words", [])
            assert [d for d, _ in pg_search.search(conn, 9001, ["words"], [], 10)] == ["gone", "kept"]
            raise RuntimeError("roll back")
        assert [d for d, _ in pg_search.search(conn, 9001, ["words"], [], 10)] == ["kept"]
        assert conn.execute("SELECT rows, tokens FROM search_9001_stats").fetchone() == (1, 2)
        pg_search.delete(conn, 9001, "kept")
        assert conn.execute("SELECT rows, tokens FROM search_9001_stats").fetchone() == (0, 0)
        assert conn.execute("SELECT count(*) FROM search_9001_terms").fetchone() == (0,)
        pg_search.drop(conn, 9001)
        assert conn.execute("SELECT to_regclass('search_9001_docs')").fetchone() == (None,)


def test_prefix_bounds_cover_every_extension():
    assert pg_search._after_prefix("ab") == "ac"
    assert pg_search._after_prefix("a\ud7ff") == "a\ue000"
    assert pg_search._after_prefix("a\U0010ffff") == "b"
    assert pg_search._after_prefix("\U0010ffff") is None
