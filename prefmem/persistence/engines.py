"""Which engine a ``--db`` names, and opening it: the one place that decides.

A path is a SQLite file (the embedded default); ``postgresql://user@host:port/dbname``
(or ``postgres://``) is a PostgreSQL database, which any number of nodes may share.
"""

from __future__ import annotations

from pathlib import Path

from prefmem.persistence.base import Durability, Persistence


def is_postgres(db: str | Path) -> bool:
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


def open_persistence(db: str | Path, durability: Durability | str = Durability.NORMAL, *,
                     shared: bool = False, create: bool = True) -> Persistence:
    """The persistence ``db`` names. ``shared`` (SQLite): other processes of this machine
    commit to the file too; a PostgreSQL database is always shared. Without ``create``, a
    database that holds no prefmem data raises ``LookupError`` instead of being made."""
    if is_postgres(db):
        from prefmem.persistence.postgres import PostgresPersistence

        return PostgresPersistence(str(db), durability, create=create)
    from prefmem.persistence.sqlite import SqlitePersistence

    if not create and str(db) != ":memory:" and not Path(db).is_file():
        raise LookupError(f"no database at {db}")
    return SqlitePersistence(db, durability, shared=shared)


def describe(db: str | Path) -> str:
    """``db`` for messages and logs: a PostgreSQL URL without its password."""
    if not is_postgres(db):
        return str(db)
    import psycopg

    params = psycopg.conninfo.conninfo_to_dict(str(db))
    user = f"{params['user']}@" if params.get("user") else ""
    port = f":{params['port']}" if params.get("port") else ""
    return f"postgresql://{user}{params.get('host', '')}{port}/{params.get('dbname', '')}"
