"""Uploaded bytes in PostgreSQL, so that every node of a deployment can serve every file.

A file is rows of ``files (storage_id, seq, data)``, ``CHUNK_BYTES`` each, written in one
transaction. An upload is first spooled to a private local file while it is hashed (as on
disk: nothing is kept until the upload is recorded), then copied in, chunk by chunk;
serving streams it out chunk by chunk, so no whole file is ever held in memory.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path
from typing import Iterator

import psycopg

from prefmem.errors import InvalidQuery
from prefmem.files.store import FileStore, StoredFile

CHUNK_BYTES = 1024 * 1024


class PostgresFiles(FileStore):
    """``conninfo``: the database's (``PostgresPersistence.conninfo``, its host already resolved)."""

    def __init__(self, conninfo: str) -> None:
        super().__init__(Path(tempfile.mkdtemp(prefix="prefmem-uploads-")))
        self._conninfo = conninfo
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()  # serving streams from worker threads

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.broken or self._conn.closed:
            self._conn = psycopg.connect(self._conninfo, autocommit=True)
        return self._conn

    @staticmethod
    def _check(storage_id: str) -> None:
        if not storage_id.isalnum():
            raise InvalidQuery(f"{storage_id!r} is not a storage id")

    def keep(self, temp: Path, storage_id: str) -> None:
        self._check(storage_id)
        try:
            with self._lock, open(temp, "rb") as source:
                conn = self._connection()
                with conn.transaction():
                    conn.execute("DELETE FROM files WHERE storage_id = %s", (storage_id,))
                    seq = 0
                    chunk = source.read(CHUNK_BYTES)
                    while chunk or seq == 0:  # an empty file is one empty chunk: it exists
                        conn.execute("INSERT INTO files (storage_id, seq, data) VALUES (%s, %s, %s)",
                                     (storage_id, seq, chunk))
                        seq += 1
                        chunk = source.read(CHUNK_BYTES)
        finally:
            self.discard(temp)

    def remove(self, storage_id: str) -> None:
        self._check(storage_id)
        with self._lock:
            self._connection().execute("DELETE FROM files WHERE storage_id = %s", (storage_id,))

    def _size(self, storage_id: str) -> int | None:
        with self._lock:
            row = self._connection().execute("SELECT sum(length(data)), count(*) FROM files WHERE storage_id = %s",
                                             (storage_id,)).fetchone()
        assert row is not None  # an aggregate without GROUP BY: always one row
        return None if not row[1] else int(row[0])

    def _chunk(self, storage_id: str, seq: int) -> bytes | None:
        with self._lock:
            row = self._connection().execute("SELECT data FROM files WHERE storage_id = %s AND seq = %s",
                                             (storage_id, seq), binary=True).fetchone()
        return None if row is None else bytes(row[0])

    def _chunks(self, storage_id: str) -> Iterator[bytes]:
        seq = 0
        while (chunk := self._chunk(storage_id, seq)) is not None:
            yield chunk
            seq += 1

    def read(self, storage_id: str) -> bytes | None:
        self._check(storage_id)
        if self._size(storage_id) is None:
            return None
        return b"".join(self._chunks(storage_id))

    def open(self, storage_id: str) -> StoredFile | None:
        self._check(storage_id)
        size = self._size(storage_id)
        return None if size is None else StoredFile(size, self._chunks(storage_id))

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        shutil.rmtree(self.directory, ignore_errors=True)
