"""A TCP forwarder in front of several servers, as a load balancer with failover would be.

Each connection it accepts goes to the first target that accepts a connection, in order;
bytes are copied both ways until either side closes, and then the other side is closed
too. So when the first target dies, its clients' connections break, and when they
reconnect (to the forwarder's address, the only one they know) they reach the next
target. It runs on an event loop of its own in a thread, for the synchronous tests.
"""

from __future__ import annotations

import asyncio
import threading

from tests.helpers.server import free_port


class Forwarder:
    def __init__(self, targets: list[int]) -> None:
        self.targets = targets  # ports on 127.0.0.1, in order of preference
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.connections: list[int] = []  # the target port of each connection made, in order
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def start(self) -> "Forwarder":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for port in list(self.targets):
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                continue
            self.connections.append(port)
            await asyncio.gather(self._copy(reader, up_writer), self._copy(up_reader, writer))
            return
        writer.close()

    @staticmethod
    async def _copy(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except OSError:
            pass
        finally:
            sink.close()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
