"""A function imported into another module must not be re-registered (or re-pathed) there.

Found while building the app: ``from .catalog import get`` in ``functions/search.py``
would register ``search:get`` as a second public path and overwrite ``get.path`` with
it, because ``Registry.add_module`` takes every ``FunctionDef`` in a module's namespace.
Python has no ``export`` keyword, so only functions *defined* in a module should count
(or an explicit ``__all__``).
"""

from prefmem.functions import load_functions


def test_imported_function_is_not_registered_twice(tmp_path):
    (tmp_path / "catalog.py").write_text(
        "from prefmem import query\n\n@query\ndef get(ctx, args):\n    return 1\n")
    (tmp_path / "search.py").write_text(
        "from .catalog import get\n\nfrom prefmem import query\n\n@query\ndef find(ctx, args):\n    return 2\n")
    registry = load_functions(tmp_path)
    assert "search:get" not in registry.functions
    assert registry.functions["catalog:get"].path == "catalog:get"
