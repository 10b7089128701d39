"""A subscribed text search through the official Python client."""

from __future__ import annotations

import pytest

from convex import ConvexClient

from tests.e2e.conftest import RunningServer, next_different

pytestmark = pytest.mark.engines


def test_subscribed_search_updates_when_a_matching_document_arrives(database):
    server = RunningServer("library", database).start()
    try:
        client = ConvexClient(server.url)
        client.mutation("books:add", {"title": "Sea Stories", "shelf": "fiction"})
        client.mutation("books:add", {"title": "The Sea, the Sea", "shelf": "fiction"})
        updates = iter(client.subscribe("books:search", {"text": "the se"}))
        first = next(updates)
        # "the" and the prefix "se" both match the second title, which ranks first.
        assert first == ["The Sea, the Sea", "Sea Stories"]
        client.mutation("books:add", {"title": "Gardening", "shelf": "home"})
        client.mutation("books:add", {"title": "Seaside Walks", "shelf": "travel"})
        latest = next_different(updates, first)
        # The new prefix match joins; the best match stays first; "Gardening" never appears.
        assert latest[0] == "The Sea, the Sea" and sorted(latest[1:]) == ["Sea Stories", "Seaside Walks"]
    finally:
        server.stop()
