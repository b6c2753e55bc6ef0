"""The sandbox authority as a real process (`silkgate serve authority`), filed to over real HTTP, posting its
receipts to a small HTTP server in the test; killed mid-plan and restarted, it finishes the plan."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from services.customs.gateway import HttpAuthorityAdapter
from shared.ceb.errors import ExchangeError
from shared.ceb.receipts import Receipt, read_receipt
from shared.natsserver import free_port
from tests.authority.support import AUTHORITY_KEY, PATIENCE_S, Keys, eventually, message, review_answer
from tests.customs.messages.factories import DECLARANT

pytestmark = pytest.mark.e2e


class Receiver:
    """customs' POST /v1/receipts (and …/batch) on a real socket: checks key and signature, keeps each receipt once."""

    def __init__(self, authority_cert: bytes) -> None:
        self.receipts: list[Receipt] = []
        self.problems: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path not in ("/v1/receipts", "/v1/receipts/batch") or \
                        self.headers.get("authorization") != f"Bearer {AUTHORITY_KEY}":
                    receiver.problems.append(f"{self.path} {self.headers.get('authorization')}")
                    self.answer(401)
                elif self.path == "/v1/receipts":
                    self.answer(self.take(body))
                else:
                    items = [self.take(base64.b64decode(b)) for b in json.loads(body)["receipts"]]
                    self.answer(200, json.dumps({"results": [{"status": s} for s in items]}).encode())

            def take(self, body: bytes) -> int:
                try:
                    receipt = read_receipt(body, authority_cert)
                except ExchangeError as exc:
                    receiver.problems.append(exc.code)
                    return 422
                if all(r.receipt_guid != receipt.receipt_guid for r in receiver.receipts):
                    receiver.receipts.append(receipt)
                return 200

            def answer(self, status: int, content: bytes = b"") -> None:
                self.send_response(status)
                self.send_header("content-length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def statuses(self, guid: str) -> list[int]:
        return [r.return_status for r in self.receipts if r.guid == guid]


@contextmanager
def receiving(keys: Keys) -> Iterator[Receiver]:
    receiver = Receiver(keys.authority_cert)
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def environment(tmp_path: Path, keys: Keys, receiver: Receiver, port: int, **extra: str) -> dict[str, str]:
    env = {**os.environ, "SILKGATE_DATA_DIR": str(tmp_path), "SILKGATE_AUTHORITY_PORT": str(port),
           "SILKGATE_AUTHORITY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'authority.db'}",
           "SILKGATE_AUTHORITY_CUSTOMS_URL": receiver.url, "SILKGATE_AUTHORITY_API_KEY": AUTHORITY_KEY,
           "SILKGATE_AUTHORITY_SIGNING_KEY_FILE": str(keys.authority.key_file),
           "SILKGATE_AUTHORITY_SIGNING_CERT_FILE": str(keys.authority.cert_file),
           "SILKGATE_AUTHORITY_DECLARANT_CERT_FILE": str(keys.customs.cert_file),
           "SILKGATE_AUTHORITY_DECLARING_DELAY_S": "0.05", "SILKGATE_AUTHORITY_ACCEPTED_DELAY_S": "0.05",
           "SILKGATE_AUTHORITY_DECISION_DELAY_S": "0.05", "PYTHONUNBUFFERED": "1"}
    env.update(extra)
    return env


def start(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "authority"], env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


async def ready(url: str) -> bool:
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            return (await client.get(f"{url}/readyz")).status_code == 200
    except httpx.HTTPError:
        return False


async def test_a_filing_over_http_gets_its_receipts_and_a_killed_sandbox_finishes_the_plan(tmp_path, keys):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with receiving(keys) as receiver:
        env = environment(tmp_path, keys, receiver, port, SILKGATE_AUTHORITY_RULES=(
            '[{"order_no_prefix": "MO-", "answer": 300}]'), SILKGATE_AUTHORITY_CONCLUSION_DELAY_S="0.05",
            SILKGATE_AUTHORITY_RELEASE_DELAY_S="3")
        process = start(env, tmp_path / "authority.out")
        try:
            await eventually(lambda: ready(url), timeout=PATIENCE_S)
            gateway = HttpAuthorityAdapter(url, sender_id=DECLARANT.dxp_id, timeout_s=PATIENCE_S)
            filed = message("CEB621", keys)
            assert (await gateway.file(filed)).outcome == "accepted"
            await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300], timeout=PATIENCE_S)
            assert (await gateway.file(review_answer(keys, filed))).outcome == "accepted"
            await eventually(lambda: 399 in receiver.statuses(filed.guid), timeout=PATIENCE_S)
            process.send_signal(signal.SIGKILL)  # the release is planned 3 s later: kill the sandbox before
            process.wait(10)
            process = start(env, tmp_path / "authority.out")
            await eventually(lambda: ready(url), timeout=PATIENCE_S)
            await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300, 399, 800], timeout=PATIENCE_S)
            again = await gateway.file(filed)  # the restarted sandbox still knows the message
            assert (again.outcome, again.duplicate) == ("accepted", True)
            async with httpx.AsyncClient() as client:
                metrics = (await client.get(f"{url}/metrics")).text
            assert "silkgate_authority_receipts_total" in metrics
            await gateway.aclose()
        finally:
            process.terminate()
            process.wait(10)
        assert receiver.problems == []


def test_serve_refuses_to_start_without_the_filers_certificate(tmp_path, keys):
    port = free_port()
    with receiving(keys) as receiver:
        env = environment(tmp_path, keys, receiver, port,
                          SILKGATE_AUTHORITY_DECLARANT_CERT_FILE=str(tmp_path / "missing.crt"))
        result = subprocess.run([sys.executable, "-m", "shared.cli", "serve", "authority"], env=env,
                                capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode != 0
    assert "SILKGATE_AUTHORITY_DECLARANT_CERT_FILE" in result.stdout + result.stderr
