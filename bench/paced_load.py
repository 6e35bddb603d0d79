"""Requests at a fixed rate whatever the server's latency: the load the key-press bench
claims to hold.

wrk keeps each connection busy in turn (send, wait for the answer, wait its delay), so the
rate it reaches is connections / (delay + latency): 12 connections with 22 ms between
requests made 545 requests/s against an idle server and 389 against the workbench, whose
answers took 9 ms while it drew. `PacedLoad` sends request `i` at `i / rate` seconds on
whichever keep-alive connection is free, so the server's latency does not lower the rate; a
server that cannot keep up holds every connection, the schedule slips, and the rate reported
is the one it sustained. Latencies count from when a request was due, not when a connection
came free, so a slipped schedule shows in them.
"""

from __future__ import annotations

import asyncio
import statistics
import threading


class PacedLoad(threading.Thread):
    """`rate` GET requests a second to `path` for `seconds`, from its own thread and loop."""

    def __init__(self, port: int, path: str, rate: float, seconds: float,
                 connections: int = 32) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
        self.rate = rate
        self.seconds = seconds
        self.connections = connections
        self.result: dict[str, float] = {}
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.result = asyncio.run(self._load())
        except BaseException as exc:  # reported by `join_result`
            self.error = exc

    def join_result(self) -> dict[str, float]:
        """Wait for the end; the rate reached, the rate asked, and latencies in ms."""
        self.join()
        if self.error is not None:
            raise RuntimeError(f"the paced load failed: {self.error!r}") from self.error
        return self.result

    async def _load(self) -> dict[str, float]:
        loop = asyncio.get_running_loop()
        free: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        for _ in range(self.connections):
            free.put_nowait(await asyncio.open_connection("127.0.0.1", self.port))
        latencies: list[float] = []
        failed = 0
        waited = 0

        async def one(due: float, conn: tuple[asyncio.StreamReader, asyncio.StreamWriter]
                      ) -> None:
            nonlocal failed
            reader, writer = conn
            writer.write(self.request)
            status = await _read_response(reader)
            latencies.append((loop.time() - due) * 1000)
            failed += not 200 <= status < 400
            free.put_nowait(conn)

        tasks: list[asyncio.Task[None]] = []
        count = int(self.rate * self.seconds)
        start = loop.time()
        for i in range(count):
            due = start + i / self.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            waited += free.empty()
            tasks.append(asyncio.create_task(one(due, await free.get())))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - start
        while not free.empty():
            _reader, writer = free.get_nowait()
            writer.close()
        if failed:
            raise RuntimeError(f"{failed} of {count} requests failed")
        latencies.sort()
        return {"rps": count / elapsed, "target_rps": self.rate, "requests": float(count),
                "waited_for_connection": float(waited),
                "p50_ms": statistics.median(latencies),
                "p99_ms": latencies[int(len(latencies) * 0.99) - 1],
                "max_ms": latencies[-1]}


async def _read_response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response with a Content-Length; its status code."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = next((int(line.split(":", 1)[1]) for line in lines
                   if line.lower().startswith("content-length:")), 0)
    await reader.readexactly(length)
    return int(lines[0].split()[1])
