"""The app's one tokenizer: words as the runtime's full-text index sees them.

Why one: retrieval (SQLite FTS5 with ``unicode61 remove_diacritics 2`` behind
``with_search_index``), the BM25 rescoring of what it retrieved, the reasons that say
which query words a result matched, and the facet words a query names must all agree on
what a word is, or a reason could claim a match the index never made and the learner
could read a facet into a word the search ignored.
"""

from __future__ import annotations

import re
import unicodedata

_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)
MAX_TERM_LENGTH = 32  # FTS5 indexes longer words, the runtime's search keys stop at 32 characters


def tokenize(text: str) -> list[str]:
    """Lower-case words without diacritics ("Café T-Shirt" → ["cafe", "t", "shirt"])."""
    if text.isascii():
        return [t[:MAX_TERM_LENGTH] for t in _TOKEN.findall(text.lower())]
    folded = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return [t[:MAX_TERM_LENGTH] for t in _TOKEN.findall(folded)]
