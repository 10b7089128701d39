"""The websocket echo ceiling: ``python -m bench.sidebyside.echo_server --port N``.

A raw ASGI websocket endpoint in a Starlette app served by uvicorn with prefmem's own settings
(``prefmem.server.UVICORN_OPTIONS``): every text frame is sent straight back. No server can
answer a websocket message faster on this stack, so it is the ceiling for W5.
"""

from __future__ import annotations

import argparse


def create_app(path: str = "/ws"):  # noqa: ANN201 — a Starlette app
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute

    class Echo:
        """Raw ASGI, as prefmem's sync endpoint (prefmem.server._SyncEndpoint) is served."""

        async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001
            if (await receive())["type"] != "websocket.connect":
                return
            await send({"type": "websocket.accept"})
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    try:
                        await send({"type": "websocket.send", "text": message["text"]})
                    except OSError:
                        return

    async def version(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("echo")

    return Starlette(routes=[WebSocketRoute(path, Echo()), Route("/version", version)])


def main() -> None:
    import uvicorn

    from prefmem.server import UVICORN_OPTIONS

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    options = dict(UVICORN_OPTIONS, lifespan="off")
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="warning", **options)


if __name__ == "__main__":
    main()
