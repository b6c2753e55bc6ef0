"""A real HTTP receiver for webhook tests: a tiny HTTP/1.1 server on asyncio streams, on a free local port.

It records every request as it arrives (before answering) and answers what `respond` says: a status code, or
after a delay (to hang past the sender's timeout).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    arrived: float  # time.monotonic()
    answered: float | None = None

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def event_id(self) -> str:
        return self.headers["silkgate-event-id"]


Respond = Callable[[Received], int | Awaitable[int]]


@dataclass
class Receiver:
    respond: Respond = lambda request: 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task] = field(default_factory=set)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._handlers):
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    def event_ids(self) -> list[str]:
        return [r.event_id for r in self.requests]

    def types(self) -> list[str]:
        return [r.json()["type"] for r in self.requests]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            request = Received(method=method, path=path, headers=headers, body=body, arrived=time.monotonic())
            self.requests.append(request)
            self.arrived.set()
            status = self.respond(request)
            if asyncio.iscoroutine(status):
                status = await status
            request.answered = time.monotonic()
            answer = b'{"ok": true}'
            writer.write(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}\r\n"
                         "Connection: close\r\n\r\n".encode() + answer)
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._handlers.discard(task)
            writer.close()


def failing_first(count: int, status: int = 500) -> Respond:
    """Answer `status` to the first `count` requests, 200 afterwards."""
    seen = {"n": 0}

    def respond(_: Received) -> int:
        seen["n"] += 1
        return status if seen["n"] <= count else 200

    return respond


class Switch:
    """Answers `status` until changed (a merchant fixing its endpoint)."""

    def __init__(self, status: int) -> None:
        self.status = status

    def __call__(self, _: Received) -> int:
        return self.status


def hanging(seconds: float) -> Respond:
    async def respond(_: Received) -> int:
        await asyncio.sleep(seconds)
        return 200

    return respond
