"""Helpers for the sandbox authority's tests: certificates, a customs receiver that checks what it gets, filing
through customs' real gateway adapter, and the authority as an in-process app."""

from __future__ import annotations

import base64
import json
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from services.authority.app import create_app
from services.authority.settings import AuthoritySettings
from services.customs.gateway import GatewayAnswer, HttpAuthorityAdapter
from services.customs.messages import OutgoingMessage, build_message, seal_json
from services.customs.messages.answers import build_inspection_record, build_review_answer
from shared.ceb.errors import ExchangeError
from shared.ceb.fields import new_guid
from shared.ceb.receipts import Receipt, read_receipts
from shared.ceb.signing import SigningIdentity
from shared.certificates import ensure_pair
from tests.customs.messages.factories import AT, DECLARANT, facts
from tests.support import eventually as _eventually

AUTHORITY_KEY = "sg_authority_test"
# Receipts follow each other within a fraction of a second here; on a machine shared by many busy processes that
# can stretch a lot, so a wait fails only after this long (a liveness bound, not a speed assertion).
PATIENCE_S = 90.0


async def eventually(check: Any, *, timeout: float = PATIENCE_S) -> Any:
    return await _eventually(check, timeout=timeout)


class Keys:
    """customs' and the authority's key pairs, in a directory."""

    def __init__(self, directory: Path) -> None:
        self.customs = ensure_pair(directory, "customs")
        self.authority = ensure_pair(directory, "authority")
        self.customs_identity = SigningIdentity.from_files(self.customs.key_file, self.customs.cert_file)
        self.authority_cert = self.authority.cert_file.read_bytes()


class CustomsReceiver:
    """customs' POST /v1/receipts as the sandbox sees it: checks the key and the signature, records every receipt
    it takes (POST /v1/receipts/batch too); `script` gives, per call, an exception to raise or a status to answer
    instead."""

    def __init__(self, keys: Keys) -> None:
        self.keys = keys
        self.received: list[Receipt] = []
        self.refused: list[str] = []
        self.calls = 0
        self.script: list[Any] = []
        self.item_script: list[int] = []
        self.requests: list[str] = []
        self.batch_sizes: list[int] = []
        self.documents: list[int] = []  # records in each document of several
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.requests.append(request.url.path)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            return httpx.Response(step, json={"code": "scripted"})
        if request.headers.get("authorization") != f"Bearer {AUTHORITY_KEY}":
            self.refused.append("api key")
            return httpx.Response(401, json={"code": "api_key_invalid"})
        if request.url.path == "/v1/receipts/batch":
            bodies = [base64.b64decode(b) for b in json.loads(request.content)["receipts"]]
            results = [self._take(body) for body in bodies]
            self.batch_sizes.append(sum(len(result.get("records") or [None]) for result in results))  # records
            return httpx.Response(200, json={"results": results})
        if request.headers.get("content-type") != "application/xml":
            self.refused.append("content type")
            return httpx.Response(415, json={"code": "unsupported_media_type"})
        answer = self._take(request.content, alone=True)
        return httpx.Response(answer["status"], json=answer)

    def _take(self, body: bytes, *, alone: bool = False) -> dict[str, Any]:
        """One receipt document as customs answers it (in a batch: its item, with one result per record for a
        document of several); `item_script` answers instead, per receipt."""
        try:
            receipts = read_receipts(body, self.keys.authority_cert)
        except ExchangeError as exc:
            self.refused.append(exc.code)
            return {"status": 422, "code": exc.code}
        if len(receipts) == 1:
            return self._record(receipts[0])
        if alone:  # POST /v1/receipts takes a document of one record
            self.refused.append("not_one_record")
            return {"status": 422, "code": "not_one_record"}
        self.documents.append(len(receipts))
        records = [{"guid": receipt.guid, **self._record(receipt)} for receipt in receipts]
        return {"status": max(record["status"] for record in records), "records": records}

    def _record(self, receipt: Receipt) -> dict[str, Any]:
        if self.item_script:
            return {"status": self.item_script.pop(0), "code": "scripted"}
        if any((r.receipt_guid, r.guid) == (receipt.receipt_guid, receipt.guid) for r in self.received):
            return {"status": 200, "outcome": "duplicate"}
        self.received.append(receipt)
        return {"status": 200, "outcome": "applied"}

    def statuses(self, guid: str) -> list[int]:
        return [r.return_status for r in self.received if r.guid == guid]

    def of(self, guid: str) -> list[Receipt]:
        return [r for r in self.received if r.guid == guid]


def authority_settings(tmp_path: Path, keys: Keys, database_url: str, **overrides: Any) -> AuthoritySettings:
    values: dict[str, Any] = {
        "database_url": database_url, "customs_url": "http://customs", "api_key": AUTHORITY_KEY,
        "signing_key_file": str(keys.authority.key_file), "signing_cert_file": str(keys.authority.cert_file),
        "declarant_cert_file": str(keys.customs.cert_file), "declaring_delay_s": 0.01, "accepted_delay_s": 0.01,
        "decision_delay_s": 0.01, "conclusion_delay_s": 0.01, "release_delay_s": 0.01,
        "retry_backoff_s": [0.02], "log_level": "WARNING",
    }
    values.update(overrides)
    return AuthoritySettings(**values)


@asynccontextmanager
async def running_authority(settings: AuthoritySettings, receiver: CustomsReceiver):
    """The authority app with its lifespan (receipt poster included), and customs' gateway adapter aimed at it."""
    app = create_app(settings, customs_transport=receiver.transport, configure_logs=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://authority") as client:
            gateway = HttpAuthorityAdapter("http://authority", sender_id=DECLARANT.dxp_id, transport=transport,
                                           api_key=settings.filer_api_key or None)
            try:
                yield client, gateway
            finally:
                await gateway.aclose()


def message(kind: str, keys: Keys, **overrides: Any) -> OutgoingMessage:
    return build_message(kind, facts(**overrides), DECLARANT, keys.customs_identity)


def review_answer(keys: Keys, answers: OutgoingMessage, *, cop_no: str | None = None) -> OutgoingMessage:
    return seal_json(build_review_answer(
        guid=new_guid(), declaration_id=cop_no or answers.cop_no, answers_guid=answers.guid,
        explanation="dried apricots, as the invoice shows", documents=[{"kind": "invoice", "reference": "INV-7"}],
        answered_by="broker-1", app_time=AT, declarant=DECLARANT), keys.customs_identity)


def inspection_record(keys: Keys, answers: OutgoingMessage, outcome: str) -> OutgoingMessage:
    return seal_json(build_inspection_record(
        guid=new_guid(), declaration_id=answers.cop_no, answers_guid=answers.guid, attended_by="broker-1",
        attended_at=AT, outcome=outcome, note="opened and counted", app_time=AT, declarant=DECLARANT),
        keys.customs_identity)


def problem_of(answer: GatewayAnswer) -> dict[str, Any]:
    return answer.problem or json.loads(answer.response_body or b"{}")


def with_facts(message_kind: str, keys: Keys, f) -> OutgoingMessage:
    return build_message(message_kind, f, DECLARANT, keys.customs_identity)


__all__ = ["AUTHORITY_KEY", "CustomsReceiver", "Keys", "authority_settings", "eventually", "facts",
           "inspection_record", "message", "replace", "review_answer", "running_authority", "with_facts"]
