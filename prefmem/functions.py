"""Function registration: the decorators, function references and the registry.

An application's functions directory is imported as a private package (a synthetic name
per directory), so two apps with a ``functions/`` folder can live in one process (tests
do that) and modules may import their siblings relatively (``from ._lib import model``).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from prefmem.errors import FunctionNotFound
from prefmem.validators import Validator, args_validator

KINDS = ("query", "mutation", "action", "http_action")


@dataclass
class FunctionDef:
    """A registered handler and what the runner needs to know about it."""

    handler: Callable[..., Any]
    kind: str
    internal: bool = False
    args: Validator | None = None
    returns: Validator | None = None
    name: str | None = None
    path: str | None = None  # set when a registry loads the module

    def __call__(self, *a: Any, **kw: Any) -> Any:
        """Calling the handler directly, bypassing validation: handy in unit tests of helpers."""
        return self.handler(*a, **kw)



SYSTEM_PREFIX = "_system/"  # the runtime's own functions: no app module can have this path


def system_function(kind: str, path: str, args: Any = None) -> Callable[[Callable], FunctionDef]:
    """``@system_function("mutation", "scheduler:finish")``: one of the runtime's own
    functions (``_system/scheduler:finish``), internal, so only the admin may call it."""

    def wrap(handler: Callable) -> FunctionDef:
        return FunctionDef(handler, kind, internal=True, args=args_validator(args), path=SYSTEM_PREFIX + path)

    return wrap


def _decorator(kind: str, internal: bool) -> Callable[..., Any]:
    def decorate(fn: Callable | None = None, *, args: Any = None, returns: Validator | None = None,
                 name: str | None = None) -> Any:
        def wrap(handler: Callable) -> FunctionDef:
            if isinstance(handler, FunctionDef):
                raise TypeError(f"{handler.path or handler.handler.__name__} is already registered as a {handler.kind}")
            if not callable(handler):
                raise TypeError(f"@{kind} decorates a function, got {type(handler).__name__}")
            return FunctionDef(handler, kind, internal, args_validator(args), returns, name)

        if fn is not None:
            return wrap(fn)
        return wrap

    decorate.__name__ = ("internal_" if internal else "") + kind
    return decorate


query = _decorator("query", False)
mutation = _decorator("mutation", False)
action = _decorator("action", False)
internal_query = _decorator("query", True)
internal_mutation = _decorator("mutation", True)
internal_action = _decorator("action", True)


def http_action(handler: Callable) -> FunctionDef:
    """An HTTP action: ``async def handler(ctx, request) -> Response``, routed by ``HttpRouter``."""
    return FunctionDef(handler, "http_action")


def normalize_path(path: str) -> str:
    """``tasks.js:add`` -> ``tasks:add``; a path without ``:`` names the default export."""
    if not isinstance(path, str) or not path:
        raise FunctionNotFound(f"function path must be a non-empty string, got {path!r}")
    module, _, export = path.partition(":")
    for suffix in (".js", ".ts", ".py"):
        if module.endswith(suffix):
            module = module[: -len(suffix)]
    return f"{module}:{export or 'default'}"


@dataclass
class Registry:
    """Every function of an application, by path, plus its crons, HTTP router and auth config."""

    functions: dict[str, FunctionDef] = field(default_factory=dict)
    modules: dict[str, Any] = field(default_factory=dict)
    package: str = ""
    directory: Path | None = None

    def get(self, path: str, *, kind: str | None = None, allow_internal: bool = False) -> FunctionDef:
        """The function a caller names. Convex's messages: an internal function is "not
        found" for a client, in the very words of a missing one, so a stranger cannot
        tell that it exists; the admin is told of any function (without "public")."""
        normalized = normalize_path(path)
        fn = self.functions.get(normalized)
        if fn is None or (fn.internal and not allow_internal) or fn.kind == "http_action":
            which = "function" if allow_internal else "public function"
            raise FunctionNotFound(f"Could not find {which} for '{normalized}'. Did you forget to run `npx convex dev`?")
        if kind is not None and fn.kind != kind:
            module, _, name = normalized.partition(":")
            raise FunctionNotFound(f"Trying to execute {module}.js:{name} as {kind.capitalize()}, but it is defined "
                                   f"as {fn.kind.capitalize()}.")
        return fn

    def resolve(self, ref: Any) -> FunctionDef:
        """A function reference: the decorated object itself or its path string."""
        if isinstance(ref, FunctionDef):
            if ref.path is None or self.functions.get(ref.path) is not ref:
                for fn in self.functions.values():
                    if fn is ref or (fn.handler is ref.handler and fn.kind == ref.kind):
                        return fn
                raise FunctionNotFound(f"{ref.handler.__name__} is not a function of this application")
            return ref
        if isinstance(ref, str):
            return self.get(ref, allow_internal=True)
        raise FunctionNotFound(f"a function reference is a decorated function or a 'module:function' path, "
                               f"got {type(ref).__name__}")

    def module(self, name: str) -> Any:
        return self.modules.get(name)

    def add_system(self, functions: list[FunctionDef]) -> None:
        """Register the runtime's own functions (the dashboard's) beside the app's.

        Their paths start with ``_system/``, which no app module can have (files starting
        with ``_`` hold no functions), and they are internal: only the admin may call them.
        """
        for fn in functions:
            if fn.path is None or not fn.path.startswith("_system/") or not fn.internal:
                raise ValueError(f"{fn.path}: system functions are internal and live under _system/")
            self.functions[fn.path] = fn

    def add_modules(self, modules: dict[str, Any]) -> None:
        """Register the functions of every module, each under the module that defines it.

        A module's namespace also holds what it imported (``from .catalog import get``);
        Python has no ``export``, so a function belongs to the module its handler was
        written in. One made elsewhere (by a factory in a helper module) belongs to the
        first module, in path order, that holds it.
        """
        self.modules.update(modules)
        found: dict[int, list[tuple[str, str, FunctionDef]]] = {}
        for relative, module in modules.items():
            for attr, value in vars(module).items():
                if isinstance(value, FunctionDef) and value.kind != "http_action":
                    found.setdefault(id(value), []).append((relative, attr, value))
        for places in found.values():
            fn = places[0][2]
            home = [p for p in places if modules[p[0]].__name__ == getattr(fn.handler, "__module__", None)]
            relative, attr, _ = (home or places)[0]
            path = f"{relative}:{fn.name or attr}"
            if path in self.functions and self.functions[path] is not fn:
                raise ValueError(f"two functions are registered as {path}")
            fn.path = path
            self.functions[path] = fn


def _package_name(directory: Path) -> str:
    digest = hashlib.sha1(str(directory).encode()).hexdigest()[:10]
    return f"_prefmem_app_{digest}"


def unload(directory: str | Path) -> None:
    """Forget the imported modules of an app directory, so a reload imports fresh code."""
    package = _package_name(Path(directory).resolve())
    for name in [m for m in sys.modules if m == package or m.startswith(package + ".")]:
        del sys.modules[name]


def load_functions(directory: str | Path) -> Registry:
    """Import every module of a functions directory and collect its functions."""
    directory = Path(directory).resolve()
    if not directory.is_dir():
        raise FileNotFoundError(f"functions directory {directory} does not exist")
    package = _package_name(directory)
    unload(directory)
    init = directory / "__init__.py"
    if init.exists():
        spec = importlib.util.spec_from_file_location(package, init, submodule_search_locations=[str(directory)])
    else:
        spec = importlib.machinery.ModuleSpec(package, None, is_package=True)
        spec.submodule_search_locations = [str(directory)]
    if spec is None:
        raise ImportError(f"cannot import {directory} as a package")
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[package] = pkg
    if init.exists() and spec.loader is not None:
        spec.loader.exec_module(pkg)
    importlib.invalidate_caches()
    registry = Registry(package=package, directory=directory)
    modules = {}
    for file in sorted(directory.rglob("*.py")):
        rel = file.relative_to(directory)
        if any(part.startswith(("_", ".")) for part in rel.parts):
            continue  # private helpers (functions/_lib/) and __init__ files hold no functions
        relative = "/".join(rel.with_suffix("").parts)
        # Sub-packages need their parents imported first; import_module does that.
        modules[relative] = importlib.import_module(f"{package}." + ".".join(rel.with_suffix("").parts))
    registry.add_modules(modules)
    return registry


def load_schema(path: str | Path) -> Any:
    """Import ``schema.py`` by file path and return its module-level ``schema`` (or None)."""
    path = Path(path).resolve()
    if not path.exists():
        return None
    name = f"_prefmem_schema_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import schema from {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    schema = getattr(module, "schema", None)
    if schema is None:
        raise ValueError(f"{path} must define a module-level `schema = define_schema(...)`")
    return schema
