"""The Starlette application: one origin serving the sync websocket and the HTTP API.

``create_app`` assembles a ``Backend`` with its subscription manager; the lifespan opens
and closes it, and in dev mode watches the code and reloads it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from uvicorn.protocols.utils import ClientDisconnected
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState

from prefmem.auth.authenticator import Authenticator
from prefmem.auth.routes import auth_routes
from prefmem.backend import Backend
from prefmem.bodies import BodyTooLarge, bounded, check_declared, too_large
from prefmem.bounds import Bounds, env_name
from prefmem.dashboard import Dashboard, metrics
from prefmem.dashboard.routes import dashboard_routes
from prefmem.errors import AuthFailed, InvalidQuery
from prefmem.files import store as files_store
from prefmem.files.context import TOKEN_REFUSALS, DigestMismatch, digest_sha256, store_stream
from prefmem.files.serving import serving_headers
from prefmem.http_api import HttpApi
from prefmem.limits import Limits
from prefmem.persistence.engines import describe
from prefmem.reactivity import Subscriptions
from prefmem.router import HttpRouter, dispatch
from prefmem.scheduler.crons import CronRunner
from prefmem.scheduler.executor import Executor
from prefmem.siblings import Siblings
from prefmem.static import static_response
from prefmem.sync.session import SyncSession
from prefmem.workers import run_workers

log = logging.getLogger("prefmem.server")

# How ``serve`` runs uvicorn; the benchmarks' websocket echo (bench/sidebyside/echo_server.py)
# runs with the same settings, so the two measure the same server stack.
# uvicorn's default loop ("auto") is uvloop when installed (it is a dependency): its
# transports halve the event loop's share of a pipelined mutation (W5).
UVICORN_OPTIONS: dict[str, Any] = {"ws": "prefmem.server:BurstingWebSocket", "lifespan": "on", "ws_ping_interval": None}

_SEND_TEXTS_EXTENSION = "prefmem.send_texts"


class BurstingWebSocket(WebSocketsSansIOProtocol):
    """uvicorn's websocket protocol ("websockets-sansio"), which also lets the app send
    several text frames in one write (an ASGI scope extension, ``send_texts``)."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # none when the handshake was refused
        if scope is not None:
            scope["extensions"][_SEND_TEXTS_EXTENSION] = self.send_texts

    async def send_texts(self, frames: list[bytes]) -> None:
        """What ``send`` does for one ``websocket.send``, for all ``frames`` (UTF-8 JSON) at
        once: the same wait while the transport is paused, one ``write`` for all of them.
        ``ClientDisconnected`` (an OSError) once the connection is closing."""
        await self.writable.wait()
        if self.disconnected or self.close_sent or self.transport.is_closing():
            raise ClientDisconnected()
        conn = self.conn
        try:
            for frame in frames:
                conn.send_text(frame)
        except InvalidState:
            raise ClientDisconnected() from None
        self.transport.write(b"".join(conn.data_to_send()))


class _AsgiTransport:
    """A sync session's socket, spoken to in raw ASGI messages.

    Why not Starlette's ``WebSocket``: its state checks and exception-handling wrappers
    cost more per frame than the frame itself once mutations are pipelined (W5 in
    bench/sidebyside); the ASGI messages are all a session needs. The echo ceiling in
    bench/sidebyside/echo_server.py talks to uvicorn the same way.
    """

    def __init__(self, receive: Any, send: Any, send_texts: Callable[[list[bytes]], Awaitable[None]] | None = None
                 ) -> None:
        self._receive, self._send = receive, send
        self._send_texts = send_texts  # BurstingWebSocket's, when uvicorn runs as ``serve`` runs it
        self._closed = False

    async def accept(self) -> bool:
        """Wait for the handshake; False if the peer left before it."""
        message = await self._receive()
        if message["type"] != "websocket.connect":
            return False
        await self._send({"type": "websocket.accept"})
        return True

    async def send(self, frames: list[bytes]) -> None:
        """Send ``frames`` in one write where the server allows it: a committed batch answers
        a client with several MutationResponses and a Transition, and one write is one
        wake-up of the client and a few full packets, not a packet and a wake-up per frame.
        W5 at 16 clients (bench/README.md): 1 worker +7 %, 2 workers +3.5–6 % writes/s against
        corking the socket around frame-by-frame writes."""
        if self._closed:
            return
        try:
            if self._send_texts is not None:
                await self._send_texts(frames)
            else:  # another ASGI server: frame by frame. The official clients read JSON text frames.
                for data in frames:
                    await self._send({"type": "websocket.send", "text": data.decode("utf-8")})
        except OSError:  # uvicorn's ClientDisconnected: the peer is gone, its frames with it
            self._closed = True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await self._send({"type": "websocket.close", "code": code, "reason": reason})
        except OSError:  # the peer is already gone
            pass

    async def frames(self) -> AsyncIterator[str]:
        """Incoming text frames until the peer disconnects."""
        while True:
            message = await self._receive()
            if message["type"] == "websocket.disconnect":
                self._closed = True
                return
            text = message.get("text")
            if text is None and message.get("bytes") is not None:
                text = message["bytes"].decode("utf-8", errors="replace")
            if text is not None:
                yield text


class _SyncEndpoint:
    """The raw ASGI app behind ``/api/sync`` (Starlette routes a class instance as ASGI)."""

    def __init__(self, server: "Server") -> None:
        self.server = server

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        send_texts = scope.get("extensions", {}).get(_SEND_TEXTS_EXTENSION)
        await self.server.websocket(_AsgiTransport(receive, send, send_texts))


class Server:
    """Holds the running backend and what is built on it."""

    def __init__(self, backend: Backend, *, watch: bool = False, site_url: str | None = None,
                 web_dir: Path | None = None, codegen_dir: Path | None = None) -> None:
        self.backend = backend
        self.web_dir = web_dir  # a built web page, served for GETs nothing else answers
        self.watch = watch
        self.codegen_dir = codegen_dir  # where watching keeps the TypeScript API (prefmem/codegen.py) current
        self.site_url = site_url
        self.subscriptions: Subscriptions | None = None
        self.http_api: HttpApi | None = None
        self.auth: Authenticator | None = None
        self.auth_cors_origins: list[str] = []  # besides PREFMEM_AUTH_CORS_ORIGINS
        self.executor: Executor | None = None
        self.crons: CronRunner | None = None
        self.dashboard: Dashboard | None = None
        self.siblings: Siblings | None = None  # the deployment's other worker processes
        self._watcher: asyncio.Task | None = None
        self._leading: asyncio.Task | None = None
        self.sessions: set[SyncSession] = set()
        self._stop_by: float | None = None  # loop time by which running functions must end

    async def start(self) -> None:
        if self.backend.app is None:
            self.backend.open()
        app = self.backend.app
        assert app is not None
        if self.site_url is not None:
            app.site_url = self.site_url
        # As Convex functions find their deployment's URLs in process.env: one origin serves
        # both the client API (cloud) and the HTTP actions (site).
        os.environ["CONVEX_CLOUD_URL"] = os.environ["CONVEX_SITE_URL"] = app.site_url
        self.subscriptions = Subscriptions(app)
        self.auth = Authenticator.for_backend(self.backend, self.auth_cors_origins)
        self.http_api = HttpApi(app, self.auth)
        if self.backend.shared:
            self.siblings = Siblings.from_env(self.auth.admin_key)
        app.start_following()
        if app.persistence.try_lead():
            await self._lead()
        else:
            self._leading = asyncio.create_task(self._wait_to_lead(), name="prefmem-leadership")
        self.dashboard = Dashboard(self)
        self.dashboard.register(app.registry)
        self.dashboard.start()
        if not self.backend.shared:
            self._announce()  # a worker's parent announces the deployment
        if self.watch:
            self._regenerate()
            self._watcher = asyncio.create_task(self._watch_code(), name="prefmem-reload")

    # How often a worker that does not run the scheduler checks whether the one that did died.
    leadership_poll_s = 1.0

    async def _lead(self) -> None:
        """Run scheduled functions and crons: one process of the deployment does."""
        app = self.backend.app
        assert app is not None
        self.executor = Executor(app)
        await self.executor.recover()  # what the previous leader left running failed with it
        self.executor.start()
        self.crons = CronRunner(app)
        self.crons.start()

    async def _wait_to_lead(self) -> None:
        app = self.backend.app
        assert app is not None
        while not app.persistence.try_lead():
            await asyncio.sleep(self.leadership_poll_s)
        log.info("prefmem: worker %d now runs the scheduler and crons", os.getpid())
        await self._lead()

    def _announce(self) -> None:
        """Tell CLI commands on this machine where the server of this database listens, so
        ``prefmem run`` goes through it (and its live queries see the change)."""
        path = announce_path(self.backend)
        if self.site_url is not None and path is not None:
            path.write_text(json.dumps({"url": self.site_url, "pid": os.getpid()}))

    def begin_shutdown(self) -> None:
        """The server is stopping: start no scheduled work, and give what runs until the
        grace period (``Bounds.shutdown_grace_s``) ends to finish."""
        self._stop_by = asyncio.get_running_loop().time() + self.backend.bounds.shutdown_grace_s
        if self._leading is not None:
            self._leading.cancel()
        if self.crons is not None:
            self.crons.stop()
        if self.executor is not None:
            self.executor.stop_starting()

    async def stop(self) -> None:
        path = announce_path(self.backend)
        try:
            if path is not None and json.loads(path.read_text()).get("pid") == os.getpid():
                path.unlink()
        except (OSError, ValueError):
            pass
        if self._watcher is not None:
            self._watcher.cancel()
        if self._leading is not None:
            self._leading.cancel()
        if self.crons is not None:
            self.crons.stop()
        if self.dashboard is not None:
            await self.dashboard.stop()
        if self.auth is not None:
            await self.auth.close()
        if self.executor is not None:
            await self.executor.stop(self._stop_by)
        if self.http_api is not None:
            self.http_api.pins.close()
        app = self.backend.app
        if app is not None:
            await app.committer.drain()
            app.stop_following()
        if self.subscriptions is not None:
            self.subscriptions.close()
        self.backend.close()

    async def _watch_code(self) -> None:
        from watchfiles import awatch

        paths = [str(self.backend.functions_dir)]
        if isinstance(self.backend.schema_source, (str, Path)):
            paths.append(str(self.backend.schema_source))
        async for _changes in awatch(*paths, debounce=200, step=50, watch_filter=code_changes(self.codegen_dir)):
            try:
                self.reload()
                log.warning("prefmem: reloaded functions from %s", self.backend.functions_dir)
            except Exception as err:  # noqa: BLE001 — keep serving the old code
                log.error("prefmem: reload failed, still serving the previous code: %s", err)
                continue
            self._regenerate()

    def _regenerate(self) -> None:
        """Rewrite the app's TypeScript API from the functions just loaded and the schema file.
        Of several worker processes, the one that runs the scheduler does it."""
        if self.codegen_dir is None or (self.backend.shared and self.executor is None):
            return
        from prefmem import codegen

        try:
            changed = codegen.regenerate(self.codegen_dir, self.backend.registry, self.backend.schema_source)
        except Exception as err:  # noqa: BLE001 — a schema that fails to load; the served code is unaffected
            log.error("prefmem: could not regenerate %s: %s", self.codegen_dir, err)
            return
        if changed:
            log.warning("prefmem: regenerated %s (%s)", self.codegen_dir, ", ".join(changed))

    def reload(self) -> None:
        assert self.subscriptions is not None
        registry = self.backend.reload_functions()
        if self.dashboard is not None:
            self.dashboard.register(registry)
        self.subscriptions.reload(registry)
        if self.crons is not None:
            self.crons.load()

    async def upload(self, request: Request) -> Response:
        """POST bytes to an upload URL: streamed to disk, recorded, answered with the storage
        id. A ``Digest: sha-256=<base64>`` header is checked against the bytes; refusals are
        Convex's (``Sha256Mismatch``, ``StorageTokenInvalid``, ``StorageTokenExpired``)."""
        token = request.query_params.get("token")
        if not token:
            return JSONResponse({"code": "BadUploadUrl", "message": "an upload URL needs its token"}, status_code=400)
        app = self.backend.app
        assert app is not None
        # The token first: no byte of a request that may not upload reaches the disk.
        refusal = await app.query(files_store.token_refusal, {"token": token}, None)
        if not refusal.ok or refusal.value is not None:
            code = refusal.value if refusal.ok else "StorageTokenInvalid"
            return JSONResponse({"code": code, "message": TOKEN_REFUSALS[code]}, status_code=401)
        content_type = request.headers.get("content-type")
        limit, setting = self.backend.bounds.upload_bytes, env_name("upload_bytes")
        try:
            check_declared(request, limit, setting)
            sha256 = digest_sha256(request.headers.get("digest"))
            answer = await store_stream(app, request.stream(), content_type, token, sha256=sha256,
                                        max_bytes=limit, setting=setting)
        except BodyTooLarge as err:
            return too_large(err)
        except (DigestMismatch, InvalidQuery) as err:
            code = "Sha256Mismatch" if isinstance(err, DigestMismatch) else "BadHeader"
            return JSONResponse({"code": code, "message": str(err)}, status_code=400)
        if "refused" in answer:
            return JSONResponse({"code": answer["refused"], "message": TOKEN_REFUSALS[answer["refused"]]},
                                status_code=401)
        return JSONResponse({"storageId": answer["storageId"]})

    async def serve_file(self, request: Request) -> Response:
        app = self.backend.app
        assert app is not None
        storage_id = request.path_params["storage_id"]
        meta = await app.query(files_store.file_metadata, {"id": storage_id}, None)
        if not meta.ok or meta.value is None:
            return JSONResponse({"code": "NotFound", "message": f"no file {storage_id}"}, status_code=404)
        found = app.files.open(storage_id)
        if found is None:
            return JSONResponse({"code": "NotFound", "message": f"no file {storage_id}"}, status_code=404)
        # Exactly the stored content type (Starlette would add a charset to text/*), and the
        # bytes' hash as Convex sends it; and never as active content (``serving_headers``).
        content_type = meta.value.get("contentType") or "application/octet-stream"
        headers = {"Cache-Control": "private, max-age=3600", "Digest": f"sha-256={meta.value['sha256']}",
                   "Content-Type": content_type, **serving_headers(content_type)}
        if meta.value["size"] == 0:  # nothing to range over: any Range gets the (empty) whole
            return Response(b"", headers=headers)
        if isinstance(found, Path):
            return FileResponse(found, headers=headers)
        # Streamed from the database (PostgreSQL): whole, never by range.
        return StreamingResponse(found.chunks, headers={**headers, "Content-Length": str(found.size)})

    def _refused(self, request: Request, what: str) -> Response | None:
        """401 unless the request carries the admin key."""
        assert self.auth is not None
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if scheme != "Convex" or not self.auth.is_admin_key(key):
            return JSONResponse({"code": "Unauthorized", "message": f"{what} need the admin key "
                                 "(Authorization: Convex <admin key>)"}, status_code=401)
        return None

    async def list_crons(self, request: Request) -> Response:
        """``GET /api/crons``: every cron with its latest and next run, as the worker that runs
        them knows them; admin only. ``local=1``: this worker's (none unless it runs them)."""
        refused = self._refused(request, "crons")
        if refused is not None:
            return refused
        if self.crons is not None:
            return JSONResponse({"crons": self.crons.describe()})
        if self.siblings is None or request.query_params.get("local") == "1":
            return JSONResponse({"crons": []})
        return JSONResponse({"crons": await self.siblings.crons()})

    async def report_counters(self, request: Request) -> Response:
        """``GET /api/counters``: commits, mutations, live query runs, live queries and
        connections, added up over the workers, and the database's sizes; admin only.
        ``local=1``: this worker's own."""
        refused = self._refused(request, "counters")
        if refused is not None:
            return refused
        own = metrics.counters(self)
        others = [] if self.siblings is None or request.query_params.get("local") == "1" \
            else await self.siblings.counters()
        return JSONResponse(dataclasses.asdict(metrics.total(own, others)))

    async def logs(self, request: Request) -> Response:
        """``GET /api/logs?after=SEQ&wait=S``: executions after SEQ, long-polled; admin only.

        A worker answers with every worker's executions (fetched from its siblings first),
        numbered in its own sequence, which ``log`` names; ``local=1`` (a sibling asking)
        gives only its own."""
        assert self.backend.app is not None
        refused = self._refused(request, "logs")
        if refused is not None:
            return refused
        try:
            after = int(request.query_params.get("after", "0"))
            wait = min(30.0, max(0.0, float(request.query_params.get("wait", "0"))))
        except ValueError:
            return JSONResponse({"code": "BadRequest", "message": "after and wait must be numbers"}, status_code=400)
        log = self.backend.app.execution_log
        own = request.query_params.get("local") == "1"
        if self.siblings is not None and not own:
            await self.siblings.pull(log, 0.0 if log.last_seq > after else wait)  # the last record is kept
            records = log.since(after)
        else:
            records = await log.wait_since(after, wait, own=own) if wait else log.since(after, own=own)
        return JSONResponse({"entries": [r.to_json() for r in records], "last": log.last_seq, "log": log.id})

    def http_router(self) -> HttpRouter | None:
        module = self.backend.registry.module("http")
        router = getattr(module, "http", None) if module is not None else None
        return router if isinstance(router, HttpRouter) else None

    async def http_action(self, request: Request) -> Response:
        """Every path the runtime does not own goes to the app's HTTP actions."""
        router = self.http_router()
        if router is not None:
            assert self.auth is not None
            try:
                request = bounded(request, self.backend.bounds.request_body_bytes, env_name("request_body_bytes"))
            except BodyTooLarge as err:
                return too_large(err)
            try:
                identity: Any = await self.auth.for_header(request.headers.get("authorization"))
            except AuthFailed as refused:
                identity = refused  # the action runs; ctx.auth.get_user_identity() raises this
            response = await dispatch(self.backend.app, router, request, identity)
            if response is not None:
                return response
            allowed = router.allowed_methods(request.url.path)
            if allowed:
                return PlainTextResponse("method not allowed", status_code=405, headers={"Allow": ", ".join(allowed)})
        static = static_response(self.web_dir, request)
        if static is not None:
            return static
        return JSONResponse({"code": "NotFound", "message": f"no route for {request.method} {request.url.path}"},
                            status_code=404)

    async def websocket(self, transport: _AsgiTransport) -> None:
        if not await transport.accept():
            return
        assert self.subscriptions is not None and self.backend.app is not None
        assert self.auth is not None
        session = SyncSession(transport, self.backend.app, self.subscriptions, self.auth)
        self.sessions.add(session)
        try:
            await session.run(transport.frames())
        finally:
            self.sessions.discard(session)


def announce_path(backend: Backend) -> Path | None:
    """Where the server of a SQLite file says where it listens. A PostgreSQL database has
    any number of nodes, and a commit made anywhere reaches them all: commands that need a
    server there take ``--url``."""
    if backend.postgres or backend.db == ":memory:":
        return None
    return Path(f"{backend.db_path}.server.json")


def code_changes(codegen_dir: Path | None) -> Callable[[Any, str], bool]:
    """The watcher's filter: watchfiles' default one, and not the generated files, which
    live among the functions (writing them must not cause a reload)."""
    from watchfiles import DefaultFilter

    default = DefaultFilter()
    generated = codegen_dir.resolve() if codegen_dir is not None else None
    return lambda change, path: default(change, path) and not (
        generated is not None and Path(path).resolve().is_relative_to(generated))


def create_app(backend: Backend, *, watch: bool = False, site_url: str | None = None,
               web_dir: str | Path | None = None, codegen_dir: Path | None = None) -> Starlette:
    server = Server(backend, watch=watch, site_url=site_url, web_dir=Path(web_dir) if web_dir is not None else None,
                    codegen_dir=codegen_dir)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await server.start()
        try:
            yield
        finally:
            await server.stop()

    async def http_function(request: Request) -> Response:
        assert server.http_api is not None
        return await server.http_api.handle(request)

    async def version(request: Request) -> Response:
        return PlainTextResponse("prefmem")

    async def stats(request: Request) -> Response:
        """Counters for benchmarks; only served when the server runs with PREFMEM_STATS=1."""
        app = server.backend.app
        subs = server.subscriptions
        return JSONResponse({
            "pid": os.getpid(),  # which worker process answered: each counts its own
            "executions": subs.executions if subs is not None else 0,
            "last_flush_reruns": subs.last_flush_reruns if subs is not None else 0,
            "commits": app.committer.commits if app is not None else 0,
            "mutations": app.committer.mutations if app is not None else 0,
            "conflicts": app.committer.conflicts if app is not None else 0,
            "reexecuted": app.committer.reexecuted if app is not None else 0,
            "locked": app.committer.locked if app is not None else 0,
            "sessions": len(server.sessions),
        })

    routes: list[Any] = [
        WebSocketRoute("/api/sync", _SyncEndpoint(server)),
        WebSocketRoute("/api/{client_version}/sync", _SyncEndpoint(server)),
        Route("/api/query", http_function, methods=["POST"]),
        Route("/api/mutation", http_function, methods=["POST"]),
        Route("/api/action", http_function, methods=["POST"]),
        Route("/api/function", http_function, methods=["POST"]),
        Route("/api/query_ts", http_function, methods=["POST"]),
        Route("/api/query_at_ts", http_function, methods=["POST"]),
        Route("/api/run/{path:path}", http_function, methods=["POST", "GET"]),
        Route("/version", version, methods=["GET"]),
        *([Route("/api/_stats", stats, methods=["GET"])] if os.environ.get("PREFMEM_STATS") == "1" else []),
        Route("/api/storage/upload", server.upload, methods=["POST"]),
        Route("/api/logs", server.logs, methods=["GET"]),
        Route("/api/crons", server.list_crons, methods=["GET"]),
        Route("/api/counters", server.report_counters, methods=["GET"]),
        Route("/api/storage/{storage_id}", server.serve_file, methods=["GET", "HEAD"]),
        *auth_routes(lambda: server.auth),
        *dashboard_routes(server),
        Route("/{path:path}", server.http_action,
              methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.server = server
    return app


WORKER_CONFIG_ENV = "PREFMEM_WORKER_CONFIG"  # how a parent configures its worker processes


def _tune_gc() -> None:
    # The cyclic collector's first generation runs every 700 net allocations by default,
    # about every twenty small mutations, and each run walks what the batch in flight
    # holds. Every 20,000 costs a few MB at most and about 5% less CPU per mutation (W5).
    gc.set_threshold(20_000, 20, 20)


def worker_app() -> Starlette:
    """The app of one worker process, configured by its parent (``serve(workers=N)``)."""
    config = json.loads(os.environ[WORKER_CONFIG_ENV])
    _tune_gc()
    backend = Backend(functions=config["functions"], schema=config["schema"], db=config["db"],
                      durability=config["durability"], dev_mode=config["dev_mode"], shared=True,
                      limits=Limits(**config["limits"]), bounds=Bounds.from_env())  # the parent checked the variables
    codegen_dir = None if config["codegen_dir"] is None else Path(config["codegen_dir"])
    return create_app(backend, watch=config["watch"], site_url=config["site_url"], web_dir=config["web_dir"],
                      codegen_dir=codegen_dir)


def serve(backend: Backend, *, host: str = "127.0.0.1", port: int = 3210, watch: bool = False,
          log_level: str = "warning", web_dir: str | Path | None = None, codegen_dir: Path | None = None,
          workers: int = 1) -> None:
    """Run the server until interrupted (``prefmem dev``), in this process or in ``workers``
    processes that share one port (``prefmem.workers``) and the database."""
    import uvicorn

    site_url = f"http://{host}:{port}"
    bounds = backend.bounds
    options = {**UVICORN_OPTIONS, "ws_ping_interval": bounds.ping_interval_s, "ws_ping_timeout": bounds.ping_timeout_s,
               # Requests still running this long after SIGTERM / Ctrl-C are cancelled.
               "timeout_graceful_shutdown": bounds.shutdown_grace_s}
    print(f"prefmem: serving {backend.functions_dir} on {site_url} (data: {describe(backend.db)})"
          + (f", web page from {web_dir}" if web_dir is not None else "")
          + (f", {workers} worker processes" if workers > 1 else ""), flush=True)
    if workers <= 1:
        _tune_gc()
        app = create_app(backend, watch=watch, site_url=site_url, web_dir=web_dir, codegen_dir=codegen_dir)
        server: Server = app.state.server

        class StoppingServer(uvicorn.Server):
            """uvicorn's server, telling ours the moment a shutdown begins (not only once the
            requests have ended), so that it starts no new scheduled work meanwhile."""

            async def shutdown(self, sockets: Any = None) -> None:
                server.begin_shutdown()
                await super().shutdown(sockets=sockets)

        running = StoppingServer(uvicorn.Config(app, host=host, port=port, log_level=log_level, **options))
        try:
            running.run()
        except KeyboardInterrupt:  # a second Ctrl-C: stop at once
            pass
        if not running.started:
            raise SystemExit(3)  # uvicorn's exit status when it could not start (the port taken, say)
        return
    # This process prepared the database (schema check, indexes) and keeps it for the
    # deployment; the workers open it shared. The keys are made here, once.
    schema = backend.schema_source
    if schema is not None and not isinstance(schema, (str, Path)):
        raise ValueError("worker processes load the schema from a file")
    Authenticator.for_backend(backend)  # creates the admin and signing keys if missing
    backend.hand_over()
    os.environ[WORKER_CONFIG_ENV] = json.dumps({
        "functions": str(backend.functions_dir), "schema": None if schema is None else str(schema),
        "db": backend.db, "durability": backend.durability.value, "dev_mode": backend.dev_mode,
        "limits": dataclasses.asdict(backend.limits), "watch": watch, "site_url": site_url,
        "web_dir": None if web_dir is None else str(web_dir),
        "codegen_dir": None if codegen_dir is None else str(codegen_dir)})
    announce = announce_path(backend)
    if announce is not None:
        announce.write_text(json.dumps({"url": site_url, "pid": os.getpid()}))
    try:
        run_workers("prefmem.server:worker_app", host=host, port=port, workers=workers, log_level=log_level,
                    options=options, inherit=backend.serve_lock_fds())
    finally:
        if announce is not None:
            announce.unlink(missing_ok=True)
        backend.close()
