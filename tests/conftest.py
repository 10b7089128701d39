"""Fixtures shared by every test folder: a throwaway PostgreSQL cluster, started on first use."""

from __future__ import annotations

import pytest

from tests.helpers.postgres import Cluster


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
