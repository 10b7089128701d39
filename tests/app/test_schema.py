"""schema.py spells out the facets and reason codes of functions/_lib (it is loaded on its own): they agree."""

import importlib.util

from functions._lib.catalog import FACETS
from functions._lib.reasons import DISMISS_REASONS, RETURN_REASONS

from .appbackend import SCHEMA, backend, seeded_template  # noqa: F401 — fixtures

_spec = importlib.util.spec_from_file_location("app_schema_under_test", SCHEMA)
MODULE = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(MODULE)


def literals(union) -> list:
    return [m.literal for m in union.members]


def test_schema_facets_and_reasons_are_the_models():
    assert literals(MODULE.FACET) == list(FACETS)
    assert literals(MODULE.DISMISS_REASON) == list(DISMISS_REASONS)
    assert literals(MODULE.RETURN_REASON) == list(RETURN_REASONS)


async def test_facets_query_serves_the_one_list(backend):
    alice = backend.as_user("alice")
    served = await alice.query("preferences:facets")
    assert [f["name"] for f in served] == list(FACETS)
    assert served[1] == {"name": "color", "label": "Colours", "singular": "colour"}
    prof = await alice.query("preferences:get")
    assert list(prof["facets"]) == list(FACETS)
