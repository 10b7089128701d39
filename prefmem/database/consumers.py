"""``take``, ``first`` and ``unique``, shared by index queries and search queries.

Both kinds define ``_run(limit)`` returning at most ``limit`` matching documents, reading
only as far as that needs: these consumers are written once on top of it.
"""

from __future__ import annotations

from prefmem.errors import InvalidQuery


class LimitedConsumers:
    def _run(self, limit: int | None) -> list[dict]:
        raise NotImplementedError

    def _describe(self) -> str:
        raise NotImplementedError

    async def take(self, n: int) -> list[dict]:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise InvalidQuery(f"take(n) needs a non-negative integer, got {n!r}")
        return self._run(n) if n else []

    async def first(self) -> dict | None:
        docs = self._run(1)
        return docs[0] if docs else None

    async def unique(self) -> dict | None:
        docs = self._run(2)
        if len(docs) > 1:
            raise InvalidQuery(f"unique(): more than one document in {self._describe()} matches "
                               f"({docs[0]['_id']}, {docs[1]['_id']})")
        return docs[0] if docs else None
