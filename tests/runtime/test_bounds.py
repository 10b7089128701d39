"""Bounds come from PREFMEM_* variables; a bad value stops the server with a clear message."""

import pytest

from prefmem.bounds import Bounds


def test_defaults_and_overrides():
    assert Bounds.from_env({}) == Bounds()
    bounds = Bounds.from_env({"PREFMEM_UPLOAD_BYTES": "1048576", "PREFMEM_SHUTDOWN_GRACE_S": "0.5",
                              "PREFMEM_QUERIES_PER_SOCKET": " 10 ", "PREFMEM_PING_INTERVAL_S": ""})
    assert (bounds.upload_bytes, bounds.shutdown_grace_s, bounds.queries_per_socket) == (1048576, 0.5, 10)
    assert bounds.ping_interval_s == Bounds().ping_interval_s


@pytest.mark.parametrize("name, value, says", [
    ("PREFMEM_UPLOAD_BYTES", "64MB", "not a whole number"),
    ("PREFMEM_PENDING_UPLOADS", "1.5", "not a whole number"),
    ("PREFMEM_SHUTDOWN_GRACE_S", "soon", "not a number"),
    ("PREFMEM_QUERIES_PER_SOCKET", "0", "greater than 0"),
    ("PREFMEM_PING_TIMEOUT_S", "-1", "greater than 0"),
])
def test_a_bad_value_is_refused_by_name(name, value, says):
    with pytest.raises(ValueError) as err:
        Bounds.from_env({name: value})
    assert name in str(err.value) and says in str(err.value)
