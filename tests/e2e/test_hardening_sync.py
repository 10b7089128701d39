"""What one websocket can make the server do is bounded, and a sign-in that ends elsewhere
ends on every open socket at once.

Real ``prefmem dev`` processes on ``tests/apps/hardening`` with small bounds set through the
environment; the sockets are raw (tests/helpers/rawws.py) so that they can misbehave: stop
reading, never answer a ping, ask for more queries than allowed.
"""

from __future__ import annotations

import threading
import time
import uuid

import httpx
import pytest

from tests.helpers.rawws import Closed, RawWebSocket, add_queries, connect_message
from tests.helpers.server import RunningServer, wait_until

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    env = {"PREFMEM_QUERIES_PER_SOCKET": "300", "PREFMEM_SOCKET_BUFFER_BYTES": str(4 * MiB), "PREFMEM_STATS": "1"}
    running = RunningServer("hardening", tmp_path_factory.mktemp("sync") / "data.sqlite3", env=env).start()
    yield running
    running.stop()


def stats(server: RunningServer) -> dict:
    return httpx.get(f"{server.url}/api/_stats", timeout=60).json()


def next_message(ws: RawWebSocket, wanted, what: str, timeout: float = 60.0) -> dict:
    """The next message ``wanted`` accepts (others are skipped); fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {what} in {timeout:g} s")
        ws.sock.settimeout(left)
        try:
            message = ws.recv_json()
        except TimeoutError:
            raise AssertionError(f"no {what} in {timeout:g} s") from None
        if wanted(message):
            return message


def results(transition: dict) -> dict[int, object]:
    return {m["queryId"]: m.get("value") for m in transition["modifications"] if m["type"] == "QueryUpdated"}


# ---------------------------------------------------------------------------- revocation (item 7)

def _sign_out(server, session):
    r = httpx.post(f"{server.url}/api/auth/signout", json={"refreshToken": session["refreshToken"]}, timeout=60)
    assert r.status_code == 200 and r.json()["signedOut"], r.text


def _delete_account(server, session):
    r = httpx.post(f"{server.url}/api/auth/delete-account", json={}, timeout=60,
                   headers={"Authorization": f"Bearer {session['token']}"})
    assert r.status_code == 200 and r.json()["deleted"], r.text


def _reuse_refresh_token(server, session):
    for expected in (200, 401):  # the second use of one refresh token revokes its whole session
        r = httpx.post(f"{server.url}/api/auth/refresh", json={"refreshToken": session["refreshToken"]}, timeout=60)
        assert r.status_code == expected, r.text


@pytest.mark.parametrize("end", [_sign_out, _delete_account, _reuse_refresh_token])
def test_a_sign_in_that_ends_elsewhere_ends_on_open_sockets_at_once(server, end):
    r = httpx.post(f"{server.url}/api/auth/signup", timeout=60,
                   json={"email": f"{uuid.uuid4().hex[:10]}@example.com", "password": "correct horse battery"})
    session = r.json()
    me = session["tokenIdentifier"]
    ws = RawWebSocket(server.url)
    try:
        ws.send_json(connect_message(str(uuid.uuid4())))
        ws.send_json({"type": "Authenticate", "tokenType": "User", "value": session["token"], "baseVersion": 0})
        ws.send_json(add_queries(0, [(0, "notes:whoami", {})]))
        first = next_message(ws, lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] == 1,
                             "the first Transition")
        assert results(first)[0] == me
        ws.send_json({"type": "Mutation", "requestId": 0, "udfPath": "notes:add", "args": [{"body": "before"}]})
        answer = next_message(ws, lambda m: m["type"] == "MutationResponse", "the first mutation's response")
        assert answer["result"] == me

        end(server, session)

        error = next_message(ws, lambda m: m["type"] == "AuthError", "an AuthError after the sign-in ended")
        assert error["authUpdateAttempted"] is False
        # The AuthError is the socket's last message: nothing more runs for the ended identity.
        ws.send_json({"type": "Mutation", "requestId": 1, "udfPath": "notes:add", "args": [{"body": "after"}]})
        with pytest.raises(Closed) as closed:
            next_message(ws, lambda m: True, "the socket's end")
        assert closed.value.code == 1000
    finally:
        ws.close()


def test_a_sign_in_ended_on_one_worker_process_ends_on_all_of_them(tmp_path):
    server = RunningServer("hardening", tmp_path / "data.sqlite3", extra=["--workers", "2"]).start()
    sockets: list[RawWebSocket] = []
    try:
        session = httpx.post(f"{server.url}/api/auth/signup", timeout=60, json={
            "email": f"{uuid.uuid4().hex[:10]}@example.com", "password": "correct horse battery"}).json()
        processes: set[float] = set()
        while len(processes) < 2:  # sockets on both processes, whichever answers the sign-out
            assert len(sockets) < 40, "every socket went to the same worker process"
            ws = RawWebSocket(server.url)
            sockets.append(ws)
            ws.send_json(connect_message(str(uuid.uuid4())))
            ws.send_json({"type": "Authenticate", "tokenType": "User", "value": session["token"], "baseVersion": 0})
            ws.send_json(add_queries(0, [(0, "notes:whoami", {}), (1, "notes:process", {})]))
            first = results(next_message(ws, lambda m: m["type"] == "Transition" and m["endVersion"]["querySet"] == 1,
                                         "the first Transition"))
            assert first[0] == session["tokenIdentifier"]
            processes.add(first[1])
        _sign_out(server, session)
        for ws in sockets:
            next_message(ws, lambda m: m["type"] == "AuthError", "an AuthError on every process's sockets")
            with pytest.raises(Closed):
                next_message(ws, lambda m: True, "the socket's end")
    finally:
        for ws in sockets:
            ws.close()
        server.stop()


# ---------------------------------------------------------------------------- queries per socket (item 3)

def test_a_socket_may_hold_only_so_many_queries(server):
    ws = RawWebSocket(server.url)
    try:
        ws.send_json(connect_message())
        ws.send_json(add_queries(0, [(i, "notes:slow", {"n": i}) for i in range(200)]))
        assert next_message(ws, lambda m: m["type"] == "Transition", "a Transition")["endVersion"]["querySet"] == 1
        ws.send_json(add_queries(1, [(200 + i, "notes:slow", {"n": 200 + i}) for i in range(101)]))
        fatal = next_message(ws, lambda m: m["type"] == "FatalError", "a FatalError")
        assert "TooManyQueries" in fatal["error"] and "300" in fatal["error"], fatal
        with pytest.raises(Closed):
            ws.recv_json()
    finally:
        ws.close()
    ws = RawWebSocket(server.url)
    try:  # one message asking for it all at once is refused before anything runs
        executions = stats(server)["executions"]
        ws.send_json(connect_message())
        ws.send_json(add_queries(0, [(i, "notes:slow", {"n": 50_000 + i}) for i in range(5000)]))
        fatal = next_message(ws, lambda m: m["type"] == "FatalError", "a FatalError")
        assert "TooManyQueries" in fatal["error"]
        assert stats(server)["executions"] == executions, "queries ran before the message was refused"
    finally:
        ws.close()


def test_a_long_batch_of_queries_lets_other_connections_run(server):
    # 250 queries of about 10 ms each: other requests must be answered in the middle of it.
    before = stats(server)["executions"]
    seen: list[int] = []
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            seen.append(stats(server)["executions"] - before)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    ws = RawWebSocket(server.url)
    try:
        ws.send_json(connect_message())
        ws.send_json(add_queries(0, [(i, "notes:slow", {"n": 300_000 + i}) for i in range(250)]))
        transition = next_message(ws, lambda m: m["type"] == "Transition", "the Transition")
        assert len(results(transition)) == 250
    finally:
        done.set()
        poller.join(60)
        ws.close()
    assert any(0 < n < 250 for n in seen), f"no request was answered while the batch ran ({sorted(set(seen))[:10]})"


# ---------------------------------------------------------------------------- unread frames (item 4)

def test_updates_for_a_client_that_stops_reading_are_held_back_then_sent_as_one(server):
    pad = 500_000
    ws = RawWebSocket(server.url, receive_buffer=16 * 1024)
    try:
        ws.send_json(connect_message())
        ws.send_json(add_queries(0, [(0, "notes:counter", {"name": "unread", "pad": pad})]))
        assert results(next_message(ws, lambda m: m["type"] == "Transition", "the first Transition"))[0]["n"] == 0
        before = server.rss_bytes()
        for _ in range(200):  # 200 changed results of 0.5 MB each: 100 MB if all were queued
            assert server.function("mutation", "notes:bump", {"name": "unread"}).status_code == 200
        grown = server.rss_bytes() - before
        assert grown < 50 * MiB, f"the server grew {grown / MiB:.0f} MiB for a client that does not read"
        updates = 0
        while True:  # reading again: the latest result arrives, after far fewer than 200 updates
            transition = next_message(ws, lambda m: m["type"] == "Transition" and 0 in results(m), "an update")
            updates += 1
            if results(transition)[0]["n"] == 200:
                break
        assert updates < 50, f"{updates} Transitions: nothing was held back"
    finally:
        ws.close()


def test_a_client_that_leaves_its_replies_unread_is_dropped(server):
    ws = RawWebSocket(server.url, receive_buffer=16 * 1024)
    try:
        ws.send_json(connect_message())
        wait_until(lambda: stats(server)["sessions"] >= 1, "the session")
        sessions = stats(server)["sessions"]
        for i in range(40):  # 40 replies of 0.5 MB, never read: past the 4 MiB bound
            ws.send_json({"type": "Action", "requestId": i, "udfPath": "notes:blob", "args": [{"bytes": 500_000}]})
        wait_until(lambda: stats(server)["sessions"] < sessions, "the server to drop the session")
    finally:
        ws.close()


# ---------------------------------------------------------------------------- silent sockets (item 4)

def test_sockets_that_answer_no_pings_are_closed(tmp_path):
    env = {"PREFMEM_PING_INTERVAL_S": "0.5", "PREFMEM_PING_TIMEOUT_S": "1", "PREFMEM_STATS": "1"}
    server = RunningServer("hardening", tmp_path / "data.sqlite3", env=env).start()
    try:
        silent = RawWebSocket(server.url)  # reads everything, answers no ping
        silent.send_json(connect_message())
        with pytest.raises(Closed) as closed:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                silent.sock.settimeout(max(0.1, deadline - time.monotonic()))
                silent.recv_json(answer_pings=False)
        assert closed.value.code in (1011, None), closed.value
        silent.close()

        # One that stops reading altogether cannot even be sent a ping: it goes too.
        stuck = RawWebSocket(server.url, receive_buffer=4096)
        stuck.send_json(connect_message())
        stuck.send_json(add_queries(0, [(0, "notes:counter", {"name": "stuck", "pad": 1_000_000})]))
        wait_until(lambda: stats(server)["sessions"] == 1, "the stuck session")
        for _ in range(10):
            assert server.function("mutation", "notes:bump", {"name": "stuck"}).status_code == 200
        wait_until(lambda: stats(server)["sessions"] == 0, "the server to drop the stuck session")
        stuck.close()
    finally:
        server.stop()
