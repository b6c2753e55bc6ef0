"""The gateway's HTTP adapter over a real socket (aiohttp, as the running gateway files): the same envelope, the
same classification, network failures retried — the in-process tests beside it post through httpx transports."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest
from aiohttp import web

from services.customs.gateway import HttpAuthorityAdapter
from services.customs.messages import build_message
from shared.ceb.transport import unwrap
from tests.customs.messages.factories import DECLARANT, facts, identity


async def serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}"


async def test_a_real_request_carries_the_envelope_and_the_key_and_is_accepted():
    seen: list[tuple[dict, bytes]] = []

    async def handler(request: web.Request) -> web.Response:
        seen.append((dict(request.headers), await request.read()))
        return web.json_response({"status": "accepted", "duplicate": True}, status=202)

    runner, url = await serve(handler)
    gateway = HttpAuthorityAdapter(url, sender_id=DECLARANT.dxp_id, api_key="filer-key")
    try:
        message = build_message("CEB621", facts(), DECLARANT, identity())
        answer = await gateway.file(message)
        again = await gateway.file(message)  # the same session, a kept-alive connection
    finally:
        await gateway.aclose()
        await runner.cleanup()
    assert (answer.outcome, answer.status_code, answer.duplicate, again.outcome) == ("accepted", 202, True, "accepted")
    headers, body = seen[0]
    assert headers["Authorization"] == "Bearer filer-key" and headers["Content-Type"] == "application/json"
    assert body == answer.request_body
    assert unwrap(json.loads(body)).data == message.body


@pytest.mark.parametrize(("status", "outcome"), [(422, "refused"), (409, "refused"), (503, "retry")])
async def test_refusals_and_busy_answers_over_a_socket(status, outcome):
    async def handler(request: web.Request) -> web.Response:
        problem = {"status": status, "code": "signature_invalid", "field": "Signature", "detail": "no"}
        return web.json_response(problem, status=status, headers={"Retry-After": "4"},
                                 content_type="application/problem+json")

    runner, url = await serve(handler)
    gateway = HttpAuthorityAdapter(url, sender_id=DECLARANT.dxp_id)
    try:
        answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    finally:
        await gateway.aclose()
        await runner.cleanup()
    assert (answer.outcome, answer.status_code, answer.problem["code"], answer.retry_after) == (
        outcome, status, "signature_invalid", 4.0)


async def test_nobody_listening_is_a_retry_with_the_error_not_an_exception():
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    gateway = HttpAuthorityAdapter(f"http://127.0.0.1:{port}", sender_id=DECLARANT.dxp_id, timeout_s=2)
    try:
        answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    finally:
        await gateway.aclose()
    assert (answer.outcome, answer.status_code) == ("retry", None)
    assert answer.error and "Connect" in answer.error and answer.request_body


async def test_an_authority_that_does_not_answer_in_time_is_a_retry():
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return web.json_response({})

    runner, url = await serve(handler)
    gateway = HttpAuthorityAdapter(url, sender_id=DECLARANT.dxp_id, timeout_s=0.2)
    try:
        answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    finally:
        await gateway.aclose()
        await runner.cleanup()
    assert (answer.outcome, answer.status_code) == ("retry", None)
    assert answer.error and answer.error.startswith("timeout:")
