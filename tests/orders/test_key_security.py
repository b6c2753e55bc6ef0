"""API keys: checked before the body is read, optionally expiring (warned about before they lapse)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import structlog
from click.testing import CliRunner

from shared.auth import generate_key
from shared.db import utcnow
from shared.keys import parse_duration
from tests.orders.conftest import bearer


async def call_unread(app, path: str, headers: list[tuple[bytes, bytes]], size: int) -> tuple[int, int]:
    """Send a request of `size` bytes straight to the ASGI app; returns (status, how often the body was asked for)."""
    asked = 0

    async def receive():
        nonlocal asked
        asked += 1
        return {"type": "http.request", "body": b"{" + b" " * (size - 2) + b"}", "more_body": False}

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "server": ("testserver", 80), "client": ("203.0.113.9", 5555),
             "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"),
                         (b"content-length", str(size).encode()), *headers]}
    await app(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start"), asked


@pytest.mark.parametrize("headers", [[], [(b"authorization", b"Bearer sg_merchant_not-a-real-key")],
                                     [(b"authorization", b"Basic dXNlcjpwdw==")]])
async def test_a_large_unauthenticated_batch_is_refused_without_reading_its_body(orders, headers):
    status, asked = await call_unread(orders.app, "/v1/orders/batch", headers, 1_200_000)
    assert status == 401
    assert asked == 0  # not a byte of the 1.2 MB was received, let alone parsed


async def test_with_a_good_key_the_body_is_read(orders):
    key = orders.merchant["Authorization"].encode()
    status, asked = await call_unread(orders.app, "/v1/orders/batch", [(b"authorization", key)], 200)
    assert asked >= 1 and status == 422  # read, parsed and found wanting


async def insert_key(orders, *, expires_in: timedelta | None, role: str = "merchant", owner: str = "M-KASHGAR"):
    runtime = orders.runtime
    key_id, key = generate_key(role)
    async with runtime.db.transaction() as session:
        await runtime.api_keys.insert(session, key_id=key_id, key=key, role=role, owner=owner, name="expiring",
                                      expires_at=utcnow() + expires_in if expires_in is not None else None)
    return key_id, key


async def test_an_expired_key_is_refused_like_an_unknown_one(orders):
    _, key = await insert_key(orders, expires_in=timedelta(seconds=-1))
    response = await orders.client.get("/v1/orders", headers=bearer(key))
    assert (response.status_code, response.json()["code"]) == (401, "api_key_invalid")


async def test_a_key_close_to_its_expiry_works_and_is_logged_as_expiring(orders):
    key_id, key = await insert_key(orders, expires_in=timedelta(days=3))
    with structlog.testing.capture_logs() as logs:
        assert (await orders.client.get("/v1/orders", headers=bearer(key))).status_code == 200
        assert (await orders.client.get("/v1/orders", headers=bearer(key))).status_code == 200
    warnings = [entry for entry in logs if entry["event"] == "api_key.expiring"]
    assert len(warnings) == 1  # once, not on every request
    assert warnings[0]["key_id"] == key_id and 2.9 < warnings[0]["days_left"] <= 3
    _, far = await insert_key(orders, expires_in=timedelta(days=90))
    with structlog.testing.capture_logs() as logs:
        assert (await orders.client.get("/v1/orders", headers=bearer(far))).status_code == 200
    assert not [entry for entry in logs if entry["event"] == "api_key.expiring"]


@pytest.mark.parametrize(("text", "seconds"), [("90d", 90 * 86400), ("12h", 43200), ("30m", 1800), ("2w", 1209600),
                                               ("3600", 3600), ("45s", 45)])
def test_expiry_durations(text, seconds):
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0d", "-1h", "soon", "12x"])
def test_bad_expiry_durations_are_refused(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_keys_create_with_an_expiry_and_no_wildcard_carrier_outside_the_sandbox(tmp_path, monkeypatch):
    from shared.cli import main
    from shared.migrate import upgrade

    monkeypatch.setenv("SILKGATE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SILKGATE_POSTAL_SANDBOX", raising=False)
    for service in ("orders", "customs", "postal"):
        upgrade(service, f"sqlite+aiosqlite:///{tmp_path / f'{service}.db'}")
    runner = CliRunner()
    made = runner.invoke(main, ["keys", "create", "--role", "merchant", "--merchant", "M9", "--name", "Shop",
                                "--expires-in", "90d"])
    assert made.exit_code == 0, made.output
    assert "expires in 90d" in made.output
    listed = runner.invoke(main, ["keys", "list"])
    assert "expires 20" in listed.output
    refused = runner.invoke(main, ["keys", "create", "--role", "carrier", "--owner", "*", "--name", "all carriers"])
    assert refused.exit_code != 0 and "sandbox" in refused.output
    monkeypatch.setenv("SILKGATE_POSTAL_SANDBOX", "true")
    sandbox = runner.invoke(main, ["keys", "create", "--role", "carrier", "--owner", "*", "--name", "sandbox"])
    assert sandbox.exit_code == 0, sandbox.output
    bad = runner.invoke(main, ["keys", "create", "--role", "ops", "--owner", "ops", "--name", "x",
                               "--expires-in", "soon"])
    assert bad.exit_code != 0 and "--expires-in" in bad.output
