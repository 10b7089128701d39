"""The websocket echo ceiling: ``python -m bench.sidebyside.echo_server --port N``.

A Starlette websocket endpoint served by uvicorn with prefmem's own settings
(``prefmem.server.UVICORN_OPTIONS``): every text frame is sent straight back. No server can
answer a websocket message faster on this stack, so it is the ceiling for W5.
"""

from __future__ import annotations

import argparse


def create_app():  # noqa: ANN201 — a Starlette app
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route, WebSocketRoute
    from starlette.websockets import WebSocket, WebSocketDisconnect

    async def echo(ws: WebSocket) -> None:
        await ws.accept()
        try:
            while True:
                message = await ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                if message.get("text") is not None:
                    await ws.send_text(message["text"])
        except (WebSocketDisconnect, RuntimeError):
            return

    async def version(request):  # noqa: ANN001, ANN202
        return PlainTextResponse("echo")

    return Starlette(routes=[WebSocketRoute("/ws", echo), Route("/version", version)])


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
