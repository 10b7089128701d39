"""The password provider's accounts live in private system tables of the app's database."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import pytest
from argon2 import PasswordHasher
from joserfc import jwk

from prefmem.auth import accounts
from prefmem.auth.password import Options, PasswordAuth, PasswordAuthError
from prefmem.backend import Backend
from prefmem.testing import FunctionFailed, TestBackend
from tests.helpers.server import APPS

APP = APPS / "authapp"
KEY = jwk.ECKey.generate_key("P-256", auto_kid=True)


async def test_no_app_function_reads_the_private_tables(tmp_path):
    async with TestBackend(APP / "functions", APP / "schema.py", db=tmp_path / "db.sqlite3") as backend:
        auth = PasswordAuth(backend.app, KEY, Options())
        signed_up = await auth.sign_up({"email": "a@example.com", "password": "correct horse battery"}, "1.2.3.4")
        for table in accounts.PRIVATE_TABLES:
            with pytest.raises(FunctionFailed, match=f"table '{table}' is private to the runtime"):
                await backend.run("users:peek", {"table": table})
        (user,) = backend.table(accounts.USERS)  # the runtime's own view: the hash is there
        assert user["email"] == "a@example.com" and user["passwordHash"].startswith("$argon2")
        with pytest.raises(FunctionFailed, match="private to the runtime"):
            await backend.run("users:peek_id", {"id": user["_id"]})
        assert signed_up["user"]["id"] == user["userId"]


async def test_two_processes_signing_up_one_email_at_once_create_one_account(tmp_path):
    """Each sign-up reads the email's index range before inserting: whichever commits second
    conflicts, re-executes, and finds the account."""
    db = tmp_path / "db.sqlite3"
    Backend(functions=APP / "functions", schema=APP / "schema.py", db=db).open().close()
    workers = [Backend(functions=APP / "functions", schema=APP / "schema.py", db=db, shared=True).open()
               for _ in range(2)]
    try:
        stores = [accounts.AuthStore(w.app) for w in workers]
        from tests.runtime.test_committer import _Gate

        for round_ in range(10):
            email = f"race{round_}@example.com"
            async with _Gate(db):
                created = [asyncio.ensure_future(store.create_user(email, None, "hash")) for store in stores]
                for _ in range(5):
                    await asyncio.sleep(0)
            results = await asyncio.gather(*created)
            assert sum(user is not None for user in results) == 1, results
        users = workers[0].documents(accounts.USERS)
        assert len(users) == len({u["email"] for u in users}) == 10
    finally:
        for w in workers:
            w.close()


async def test_accounts_of_the_earlier_layout_move_into_the_system_tables(tmp_path):
    """A database whose password accounts were in prefmem_auth_* tables keeps them."""
    db = tmp_path / "db.sqlite3"
    Backend(functions=APP / "functions", schema=APP / "schema.py", db=db).open().close()
    now = time.time()
    conn = sqlite3.connect(db)
    conn.executescript("""
        CREATE TABLE prefmem_auth_users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, name TEXT,
            password_hash TEXT NOT NULL, created_at REAL NOT NULL, updated_at REAL NOT NULL);
        CREATE TABLE prefmem_auth_sessions (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, created_at REAL NOT NULL,
            revoked_at REAL, revoke_reason TEXT);
        CREATE TABLE prefmem_auth_refresh_tokens (token_hash TEXT PRIMARY KEY, session_id TEXT NOT NULL,
            created_at REAL NOT NULL, expires_at REAL NOT NULL, used_at REAL);
        CREATE TABLE prefmem_auth_lockouts (kind TEXT NOT NULL, key TEXT NOT NULL, until REAL NOT NULL,
            PRIMARY KEY (kind, key));
    """)
    conn.execute("INSERT INTO prefmem_auth_users VALUES (?, ?, ?, ?, ?, ?)",
                 ("user_old", "old@example.com", "Old", PasswordHasher().hash("correct horse battery"), now, now))
    conn.execute("INSERT INTO prefmem_auth_sessions VALUES ('s1', 'user_old', ?, NULL, NULL)", (now,))
    conn.execute("INSERT INTO prefmem_auth_refresh_tokens VALUES (?, 's1', ?, ?, NULL)",
                 (accounts.hash_token("refresh-1"), now, now + 3600))
    conn.execute("INSERT INTO prefmem_auth_lockouts VALUES ('account', 'locked@example.com', ?)", (now + 600,))
    conn.commit()
    conn.close()
    async with TestBackend(APP / "functions", APP / "schema.py", db=db) as backend:
        auth = PasswordAuth(backend.app, KEY, Options())
        signed_in = await auth.sign_in({"email": "old@example.com", "password": "correct horse battery"}, "1.2.3.4")
        assert signed_in["user"] == {"id": "user_old", "email": "old@example.com", "name": "Old"}
        refreshed = await auth.refresh({"refreshToken": "refresh-1"})  # the old session's token still works
        assert refreshed["user"]["id"] == "user_old"
        with pytest.raises(PasswordAuthError) as locked:
            await auth.sign_in({"email": "locked@example.com", "password": "whatever it is"}, "1.2.3.5")
        assert locked.value.code == "AccountLocked"
        tables = {row[0] for row in backend.app.persistence._reader.execute(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        assert not any(name.startswith("prefmem_auth_") for name in tables)
