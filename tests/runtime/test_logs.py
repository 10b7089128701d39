"""Logging outside executions, once prefmem's handler is the root logger's only one: as
logging itself would, including when an embedding program has disabled the last resort."""

from __future__ import annotations

import logging

from prefmem import logs


class _Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _warn_outside_executions(handler: logging.Handler) -> logging.LogRecord:
    record = logging.LogRecord("prefmem.test", logging.WARNING, __file__, 1, "heard by the last resort", None, None)
    root = logging.getLogger()
    saved = root.handlers
    root.handlers = [handler]
    try:
        handler.handle(record)
    finally:
        root.handlers = saved
    return record


def test_a_warning_outside_executions_goes_to_the_last_resort(monkeypatch):
    kept = _Kept()
    monkeypatch.setattr(logging, "lastResort", kept)
    record = _warn_outside_executions(logs._Handler(level=logging.DEBUG))
    assert kept.records == [record]


def test_a_warning_outside_executions_is_dropped_when_the_last_resort_is_disabled(monkeypatch):
    # logging documents ``lastResort = None`` as the way back to dropping unhandled records;
    # the warning then must not raise into the code that logged it.
    monkeypatch.setattr(logging, "lastResort", None)
    _warn_outside_executions(logs._Handler(level=logging.DEBUG))
