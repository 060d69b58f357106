"""Wide-area links emulated on one machine: a delaying, rate-limiting TCP proxy in front of each
party's inbox, for ``smpc bench --network rtt=40ms,rate=100mbit`` and the tests.

This machine's kernel has no ``netem``; a user-space proxy is the portable way. Each TCP
connection through the proxy is one link: every chunk waits its turn on the link (``rate``),
then half the round-trip time (``rtt``), in each direction. CurveZMQ runs end to end through it
(the proxy sees only ciphertext).
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from dataclasses import dataclass

from ..errors import SmpcError

_PART = re.compile(r"^(rtt|rate)=([0-9.]+)\s*([a-z]*)$")
_TIME = {"": 1e-3, "ms": 1e-3, "s": 1.0, "us": 1e-6}
_RATE = {"": 1e6 / 8, "bit": 1 / 8, "kbit": 1e3 / 8, "mbit": 1e6 / 8, "gbit": 1e9 / 8}
CHUNK = 1 << 16


@dataclass(frozen=True)
class NetworkSpec:
    """A link's round-trip time (s) and rate (bytes/s; 0 = unlimited)."""

    rtt: float = 0.0
    rate: float = 0.0

    @classmethod
    def parse(cls, text: str) -> NetworkSpec:
        """``rtt=40ms,rate=100mbit`` (rtt in ms by default, rate in Mbit/s by default)."""
        values: dict[str, float] = {}
        for part in text.replace(" ", "").lower().split(","):
            found = _PART.match(part)
            units = _TIME if found and found.group(1) == "rtt" else _RATE
            if not found or found.group(3) not in units:
                raise SmpcError(f"--network {text!r}: write it like rtt=40ms,rate=100mbit")
            values[found.group(1)] = float(found.group(2)) * units[found.group(3)]
        return cls(values.get("rtt", 0.0), values.get("rate", 0.0))

    def describe(self) -> str:
        rate = f"{self.rate * 8 / 1e6:g} Mbit/s" if self.rate else "unlimited rate"
        return f"round trip {self.rtt * 1e3:g} ms, {rate} per link and direction"


class DelayProxy:
    """Listening ports that forward to targets through emulated links (an asyncio loop in a
    daemon thread); ``close()`` stops it."""

    def __init__(self, spec: NetworkSpec, host: str = "127.0.0.1"):
        self.spec, self.host = spec, host
        self._loop = asyncio.new_event_loop()
        self._servers: list[asyncio.base_events.Server] = []
        self._thread = threading.Thread(target=self._loop.run_forever, name="smpc-netem", daemon=True)
        self._thread.start()

    def forward(self, target_host: str, target_port: int, listen_host: str | None = None) -> int:
        """A new listening port (on ``listen_host``, else the proxy's host) whose connections
        reach ``target_host:target_port``."""
        future = asyncio.run_coroutine_threadsafe(
            self._listen(target_host, target_port, listen_host or self.host), self._loop
        )
        return future.result(timeout=10)

    async def _listen(self, target_host: str, target_port: int, listen_host: str) -> int:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                up_reader, up_writer = await asyncio.open_connection(target_host, target_port)
            except OSError:
                writer.close()
                return
            try:
                await asyncio.gather(
                    self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
                )
            except asyncio.CancelledError:  # the proxy is closing
                writer.close()
                up_writer.close()

        server = await asyncio.start_server(accepted, listen_host, 0)
        self._servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """One direction of one link: serialise at ``rate``, then deliver after rtt / 2."""
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()
        delay, rate = self.spec.rtt / 2, self.spec.rate

        async def deliver() -> None:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()
            writer.close()

        sender = asyncio.ensure_future(deliver())
        free = 0.0  # when the link has finished sending what it holds
        try:
            while data := await reader.read(CHUNK):
                now = time.monotonic()
                start = max(now, free)
                free = start + (len(data) / rate if rate else 0.0)
                queue.put_nowait((free + delay, data))
        except (ConnectionError, OSError):
            pass
        finally:
            queue.put_nowait((0.0, b""))
            await asyncio.gather(sender, return_exceptions=True)

    def close(self) -> None:
        async def stop() -> None:
            for server in self._servers:
                server.close()
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(stop(), self._loop).result(timeout=10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
        self._loop.close()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
