"""``tokenize`` gives exactly the tokens FTS5's ``unicode61 remove_diacritics 2`` indexes."""

from __future__ import annotations

import sqlite3

from hypothesis import given, settings
from hypothesis import strategies as st

from prefmem.database import unicode61
from prefmem.database.search import MAX_TERM_LENGTH, matches_terms, tokenize
from tests.helpers.fts5_unicode61 import derive, render

# Characters where tokenizers disagree most: accents precomposed and combining, ligatures,
# superscripts and fractions, case pairs beyond ASCII, marks that FTS5 does not drop,
# scripts without case, emoji, private use, unassigned, separators and underscore.
TRICKY = ("aAzZ09 _-.,'\"*éÉèçñÑøØæǽǣåÅßẞİıǅǄǆĳŀŉﬁﬀ²³¹½¼ªºʰ\u0300\u0301\u0308\u0327\u0305\u0313\u20dd"
          "ΣσςΆάЖжЁё日本語한국어ا٣\u200d\u00ad\u2028🙂👍🏽\ue000\U000f0000\u0378\U0001e900\U0001e922ｆｕｌｌ")
text = st.text(st.one_of(st.sampled_from(TRICKY), st.characters(exclude_categories=["Cs"])), max_size=40)


def _fts5_tokens(conn: sqlite3.Connection, value: str) -> list[str]:
    conn.execute("DELETE FROM t")
    conn.execute("INSERT INTO t (rowid, body) VALUES (1, ?)", (value,))
    return [row[0] for row in conn.execute("SELECT term FROM v ORDER BY offset")]


def test_the_committed_table_is_what_sqlite_does():
    assert render(derive()) == open(unicode61.__file__, encoding="utf-8").read()


@settings(max_examples=400, deadline=None)
@given(text)
def test_tokens_equal_the_ones_fts5_indexes(value):
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
    assert tokenize(value, max_length=10_000) == _fts5_tokens(conn, value)
    conn.close()


def test_words_fts5_keeps_whole_are_not_decomposed():
    # NFKD would turn these into "fine", "12", "aesir"; FTS5 indexes them unchanged.
    assert tokenize("ﬁne ½ ǽsir") == ["ﬁne", "½", "ǽsir"]
    assert tokenize("Crème BRÛLÉE x\u0301y \u0301a") == ["creme", "brulee", "xy", "a"]


def test_terms_are_cut_to_the_maximum_length():
    assert tokenize("a" * 40) == ["a" * 32]
    assert tokenize("a" * 40, max_length=33) == ["a" * 33]


WORDS = ["sea", "Séa", "seashore", "café", "ǽsir", "ﬁne", "½", "x\u0301y", "a" * (MAX_TERM_LENGTH + 5),
         "a" * MAX_TERM_LENGTH, "a" * (MAX_TERM_LENGTH - 3)]
phrase = st.lists(st.sampled_from(WORDS + ["s", "ca", "ǽ", "a"]), min_size=1, max_size=4).map(" ".join)


@settings(max_examples=300, deadline=None)
@given(st.one_of(phrase, text), st.one_of(phrase, text))
def test_matches_terms_agrees_with_fts5(document, query):
    """The write buffer decides with ``matches_terms`` whether an uncommitted write is a hit."""
    terms = tokenize(query)
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE VIRTUAL TABLE t USING fts5(body, tokenize='unicode61 remove_diacritics 2')")
    conn.execute("INSERT INTO t (rowid, body) VALUES (1, ?)", (document,))
    hit = bool(terms) and conn.execute("SELECT count(*) FROM t WHERE t MATCH ?", (
        " OR ".join([*(f'"{t}"' for t in terms), f'"{terms[-1]}"*']),)).fetchone()[0] == 1
    assert matches_terms(document, terms) == hit
    conn.close()


def test_a_word_longer_than_a_term_matches_it_only_as_a_prefix():
    word = "a" * (MAX_TERM_LENGTH + 5)
    assert not matches_terms(word, ["a" * MAX_TERM_LENGTH, "zzz"])
    assert matches_terms(word, ["zzz", "a" * MAX_TERM_LENGTH])
