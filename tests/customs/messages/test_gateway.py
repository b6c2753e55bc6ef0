"""The customs gateway's HTTP adapter: what it sends, and how it tells accepted, refused and retry apart."""

from __future__ import annotations

import json
import random

import httpx
import pytest

from services.customs.gateway import EXPORT_RECEIVER, IMPORT_RECEIVER, HttpAuthorityAdapter, backoff, classify
from services.customs.messages import build_message
from shared.ceb.transport import unwrap
from tests.customs.messages.factories import DECLARANT, export_facts, facts, identity, mail_facts


def adapter(handler, **kwargs) -> HttpAuthorityAdapter:
    return HttpAuthorityAdapter("http://authority/", sender_id=DECLARANT.dxp_id,
                                transport=httpx.MockTransport(handler), **kwargs)


async def test_it_posts_the_transport_envelope_of_the_signed_message():
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"status": "accepted", "duplicate": False})

    gateway = adapter(handler, api_key="filer-key")
    message = build_message("CEB621", facts(), DECLARANT, identity())
    answer = await gateway.file(message)
    await gateway.aclose()
    assert (answer.outcome, answer.status_code, answer.duplicate, answer.message_id) == (
        "accepted", 200, False, message.guid)
    request = seen[0]
    assert (request.method, str(request.url)) == ("POST", "http://authority/v1/messages")
    assert request.headers["authorization"] == "Bearer filer-key"
    assert request.content == answer.request_body  # what was sent, kept for audit
    envelope = unwrap(json.loads(request.content))
    assert (envelope.message_id, envelope.kind, envelope.data, envelope.sender_id, envelope.receiver_id) == (
        message.guid, "CEB621", message.body, DECLARANT.dxp_id, IMPORT_RECEIVER)


async def test_export_goes_to_the_export_receiver_and_json_carries_its_signature():
    gateway = adapter(lambda request: httpx.Response(200, json={}))
    export = unwrap(json.loads(gateway.envelope(build_message("CEB603", export_facts(), DECLARANT, identity()))))
    assert export.receiver_id == EXPORT_RECEIVER and export.signature is None
    mail = build_message("CUSITM", mail_facts(), DECLARANT, identity())
    assert unwrap(json.loads(gateway.envelope(mail))).signature == mail.signature
    await gateway.aclose()


@pytest.mark.parametrize(("status", "outcome"), [
    (200, "accepted"), (202, "accepted"), (400, "refused"), (401, "refused"), (409, "refused"), (422, "refused"),
    (408, "retry"), (429, "retry"), (500, "retry"), (502, "retry"), (503, "retry"),
])
def test_statuses_are_classified(status, outcome):
    assert classify(status) == outcome


async def test_a_refusal_carries_the_authoritys_reason():
    problem = {"status": 422, "code": "signature_invalid", "field": "Signature", "detail": "does not verify"}
    gateway = adapter(lambda request: httpx.Response(422, json=problem,
                                                     headers={"content-type": "application/problem+json"}))
    answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    await gateway.aclose()
    assert (answer.outcome, answer.problem["code"], answer.problem["field"]) == (
        "refused", "signature_invalid", "Signature")
    assert json.loads(answer.response_body)["detail"] == "does not verify"


@pytest.mark.parametrize("failure", [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"),
                                     httpx.RemoteProtocolError("reset")])
async def test_network_failures_are_retried_not_raised(failure):
    def handler(request: httpx.Request) -> httpx.Response:
        raise failure

    gateway = adapter(handler)
    answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    await gateway.aclose()
    assert (answer.outcome, answer.status_code, answer.response_body) == ("retry", None, None)
    assert answer.error and answer.request_body


async def test_busy_answers_are_retried_after_what_the_authority_asks():
    gateway = adapter(lambda request: httpx.Response(429, headers={"Retry-After": "7"}, text="busy"))
    answer = await gateway.file(build_message("CEB621", facts(), DECLARANT, identity()))
    await gateway.aclose()
    assert (answer.outcome, answer.retry_after, answer.problem["detail"]) == ("retry", 7.0, "busy")


def test_backoff_grows_exponentially_with_jitter_up_to_a_cap():
    rng = random.Random(1)
    delays = [backoff(attempt, base_s=2, cap_s=60, rng=rng) for attempt in range(1, 9)]
    for attempt, delay in enumerate(delays, start=1):
        ceiling = min(60, 2 * 2 ** (attempt - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert delays[-1] >= 30
    with pytest.raises(ValueError):
        backoff(0)
