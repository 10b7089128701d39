"""Errors that are part of prefmem's interface.

``ConvexError`` carries application data to the client. Every other class here describes
a mistake in a request or in application code; their messages say what was expected, what
arrived and where, and are safe to show to the caller.
"""

from __future__ import annotations

from typing import Any


class ConvexError(Exception):
    """Raised by application code to send ``data`` to the client as ``errorData``.

    Its message is the data, as Convex's ``ConvexError`` has it: the string itself, or the
    value as JavaScript prints it (``{"code":1}``; an int64 as ``"5n"``). A subclass's name
    is what clients read in ``Uncaught FooError: ...``.
    """

    def __init__(self, data: Any, *, message: str | None = None) -> None:
        from prefmem.values import js_stringify

        self.data = data
        if message is None:
            message = data if isinstance(data, str) else js_stringify(data)
        super().__init__(message)


class PrefmemError(Exception):
    """A request or application mistake whose message is meant for the developer."""


class InvalidValue(PrefmemError):
    """Not a Convex value, or not within the value shape limits."""


class ValidationError(PrefmemError):
    """A value does not match its validator (arguments, return value or document)."""


class InvalidQuery(PrefmemError):
    """A query is malformed: an unknown index, a broken range rule, a bad cursor."""


class LimitExceeded(PrefmemError):
    """A transaction or function went past one of the configured limits."""

    def __init__(self, limit: str, message: str) -> None:
        self.limit = limit
        super().__init__(f"limit {limit!r} exceeded: {message}")


class NonDeterministic(PrefmemError):
    """A query or mutation awaited something other than ctx operations."""


class CallFailed(PrefmemError):
    """The call failed around the handler (its path, its arguments, its return value), not
    inside it: the message is the whole error, without ``Uncaught <class>:`` before it."""


class FunctionNotFound(CallFailed):
    """No public function is registered under the requested path."""


class DocumentNotFound(PrefmemError):
    """patch, replace or delete of a document that does not exist."""


class SchemaMismatch(PrefmemError):
    """Stored documents do not satisfy a changed schema; the report names them."""


class AuthFailed(PrefmemError):
    """A token or key was refused; the message says why (expired, wrong issuer, ...), and
    ``code`` is Convex's name for the kind of refusal (``NoAuthProvider``,
    ``InvalidAuthHeader``, ...), which an HTTP client reads as the error's ``code``."""

    def __init__(self, message: str, code: str = "Unauthenticated") -> None:
        super().__init__(message)
        self.code = code
