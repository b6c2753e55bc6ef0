"""A fake carrier: a real HTTP server on a free local port that records the manifests posted to it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tests.support import free_port


class FakeCarrier:
    """Answers each POST with the next scripted (status, delay_s), then 202; dedupes by Idempotency-Key."""

    def __init__(self) -> None:
        self.port = free_port()
        self.posts: list[dict[str, Any]] = []
        self.script: list[tuple[int, float]] = []
        self.receipts: dict[str, dict[str, Any]] = {}
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None
        app = FastAPI()

        @app.post("/v1/manifests")
        async def manifests(request: Request) -> JSONResponse:
            body = json.loads(await request.body())
            self.posts.append({"headers": dict(request.headers), "manifest": body})
            status, delay = self.script.pop(0) if self.script else (202, 0.0)
            if delay:
                await asyncio.sleep(delay)
            if status >= 300:
                return JSONResponse({"detail": "carrier unavailable"}, status_code=status)
            key = request.headers["idempotency-key"]
            receipt = self.receipts.setdefault(key, {"receipt_id": f"rcv_{len(self.receipts) + 1}",
                                                     "dispatch_id": body["dispatch"]["dispatch_id"]})
            return JSONResponse(receipt, status_code=202)

        self.app = app

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1/manifests"

    def keys(self) -> list[str]:
        return [post["headers"]["idempotency-key"] for post in self.posts]

    async def start(self) -> FakeCarrier:
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
