"""Pure-Python core of the Preference Memory application.

Plain helper code (no prefmem imports, stdlib only) that the app's Convex-style functions
in ``functions/*.py`` call, and that unit tests and the simulated-shopper benchmark
(``bench/shoppers.py``) exercise directly:

- ``config``  — every number of PREFERENCES.md in one frozen dataclass;
- ``catalog`` — a seeded catalogue generator, a JSONL/CSV importer, the facet vocabulary;
- ``model``   — the learned profile as a pure function of the signal log;
- ``ranking`` — re-ranking search results by the profile, with reasons and guardrails,
  plus the search-engine adapter interface and an in-memory BM25 engine.

The package has no side effects on import so the function modules can import it freely.
"""

from .config import DEFAULT_CONFIG, Config

__all__ = ["Config", "DEFAULT_CONFIG"]
