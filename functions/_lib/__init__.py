"""Pure-Python core of the Preference Memory application.

Plain helper code (no prefmem imports, stdlib only) that the app's Convex-style functions
in ``functions/*.py`` call, and that unit tests and the simulated-shopper benchmark
(``bench/shoppers.py``) exercise directly:

- ``catalog``    — a seeded catalogue generator, a JSONL/CSV importer, the facets and the
  words a query names them with;
- ``config``     — every number of the model and the ranker in one frozen dataclass;
- ``text``       — the one tokenizer (the runtime's full-text index's);
- ``engines``    — retrieval: BM25 rescoring of full-text matches, the query words each matched;
- ``reasons``    — dismissal and return reasons as codes, and the words they replaced;
- ``model``      — the learned profile as a pure function of the signal log (``exposure``:
  what the shopper was shown, the baseline of the lift);
- ``ranking``    — re-ranking search results by the profile, with reasons and guardrails.

The package has no side effects on import so the function modules can import it freely.
"""

from .config import DEFAULT_CONFIG, Config

__all__ = ["Config", "DEFAULT_CONFIG"]
