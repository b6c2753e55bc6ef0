"""The partner registry: ops register payment providers and logistics companies and bind them to merchants, over
HTTP and with `silkgate partners`; the use cases behind both check the same rules."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from shared.cli import main
from shared.migrate import upgrade
from tests.orders.domain.factories import USCC


async def test_ops_registers_lists_binds_and_unbinds_partners(orders):
    response = await orders.client.post("/v1/partners", json={"code": "SF-PAY", "kind": "payment", "name": "SF Pay",
                                                              "uscc": USCC.lower()}, headers=orders.ops)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["code"], created["kind"], created["uscc"], created["active"], created["merchants"]) == (
        "SF-PAY", "payment", USCC, True, [])
    response = await orders.client.put("/v1/partners/SF-PAY/merchants/M-KASHGAR", headers=orders.ops)
    assert response.json() == {"partner_code": "SF-PAY", "merchant_code": "M-KASHGAR", "bound": True}
    again = await orders.client.put("/v1/partners/SF-PAY/merchants/M-KASHGAR", headers=orders.ops)
    assert again.status_code == 200
    await orders.client.put("/v1/partners/SF-PAY/merchants/M-ALMATY", headers=orders.ops)
    assert (await orders.client.get("/v1/partners/SF-PAY", headers=orders.ops)).json()["merchants"] == [
        "M-ALMATY", "M-KASHGAR"]

    payments = (await orders.client.get("/v1/partners", params={"kind": "payment"}, headers=orders.ops)).json()
    assert [p["code"] for p in payments] == ["ALIPAY", "SF-PAY", "WECHATPAY"]
    serving = (await orders.client.get("/v1/partners", params={"merchant": "M-ALMATY"}, headers=orders.ops)).json()
    assert [p["code"] for p in serving] == ["SF-PAY", "WECHATPAY", "ZTO"]

    response = await orders.client.delete("/v1/partners/SF-PAY/merchants/M-ALMATY", headers=orders.ops)
    assert response.json()["bound"] is False
    response = await orders.client.delete("/v1/partners/SF-PAY/merchants/M-ALMATY", headers=orders.ops)
    assert (response.status_code, response.json()["code"]) == (404, "binding_not_found")
    response = await orders.client.patch("/v1/partners/SF-PAY", json={"name": "SF Payments", "active": False},
                                         headers=orders.ops)
    assert (response.json()["name"], response.json()["active"]) == ("SF Payments", False)


@pytest.mark.parametrize(("body", "field", "code"), [
    ({"code": "alipay", "kind": "payment", "name": "x"}, "code", "format_invalid"),
    ({"code": "A", "kind": "payment", "name": "x"}, "code", "too_short"),
    ({"code": "BANK", "kind": "bank", "name": "x"}, "kind", "value_not_allowed"),
    ({"code": "BANK", "kind": "payment", "name": "x", "uscc": "91350100M000100Y44"}, "uscc", "uscc_invalid"),
    ({"code": "ALIPAY", "kind": "payment", "name": "again"}, "code", "partner_exists"),
])
async def test_a_bad_partner_is_refused_with_the_field(orders, body, field, code):
    response = await orders.client.post("/v1/partners", json=body, headers=orders.ops)
    assert response.status_code in (409, 422), response.text
    assert (response.json()["field"], response.json()["code"]) == (field, code)


async def test_bindings_need_a_known_partner_and_merchant_and_only_ops_manages_them(orders):
    response = await orders.client.put("/v1/partners/NOPE/merchants/M-KASHGAR", headers=orders.ops)
    assert (response.status_code, response.json()["code"]) == (404, "partner_not_found")
    response = await orders.client.put("/v1/partners/ALIPAY/merchants/M-NOBODY", headers=orders.ops)
    assert (response.status_code, response.json()["code"]) == (404, "merchant_not_found")
    for key in (orders.merchant, orders.payment, orders.logistics):
        assert (await orders.client.get("/v1/partners", headers=key)).status_code == 403
        response = await orders.client.put("/v1/partners/ALIPAY/merchants/M-ALMATY", headers=key)
        assert response.status_code == 403  # a provider cannot bind itself to more merchants


# ── silkgate partners / silkgate keys ────────────────────────────────────────


@pytest.fixture
def orders_db(tmp_path, monkeypatch):
    """An embedded orders database the CLI finds through the configuration, with a registered merchant."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'orders.db'}"
    upgrade("orders", url)
    monkeypatch.setenv("SILKGATE_ORDERS_DATABASE_URL", url)
    result = CliRunner().invoke(main, ["keys", "create", "--role", "merchant", "--merchant", "DEMO", "--name", "Demo"])
    assert result.exit_code == 0, result.output
    return url


def run(*args: str) -> tuple[int, str]:
    """Exit code and standard output (errors: standard error too)."""
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout if result.exit_code == 0 else result.output


def test_the_cli_registers_binds_and_lists_partners(orders_db):
    assert run("partners", "add", "ALIPAY", "--kind", "payment", "--name", "Alipay", "--uscc", USCC)[0] == 0
    assert run("partners", "add", "YTO", "--kind", "logistics", "--name", "YTO Express")[0] == 0
    code, output = run("partners", "bind", "ALIPAY", "DEMO")
    assert (code, output.strip()) == (0, "ALIPAY serves DEMO")
    code, output = run("partners", "list")
    lines = output.splitlines()
    assert code == 0 and len(lines) == 2
    assert lines[0].split()[:5] == ["ALIPAY", "payment", "active", USCC, "DEMO"]
    assert lines[1].split()[:5] == ["YTO", "logistics", "active", "-", "-"]
    assert run("partners", "list", "--kind", "logistics")[1].split()[0] == "YTO"
    assert run("partners", "deactivate", "YTO")[0] == 0
    assert "inactive" in run("partners", "list", "--kind", "logistics")[1]
    assert run("partners", "unbind", "ALIPAY", "DEMO")[0] == 0


def test_the_cli_refuses_what_the_api_refuses(orders_db):
    code, output = run("partners", "add", "alipay", "--kind", "payment", "--name", "Alipay")
    assert code == 1 and "format_invalid" in output
    code, output = run("partners", "add", "BANK", "--kind", "payment", "--name", "x", "--uscc", "91350100M000100Y44")
    assert code == 1 and "uscc_invalid" in output
    code, output = run("partners", "bind", "NOPE", "DEMO")
    assert code == 1 and "partner_not_found" in output
    assert "Traceback" not in output


def test_a_payment_key_needs_a_registered_payment_provider(orders_db):
    code, output = run("keys", "create", "--role", "payment", "--owner", "ALIPAY", "--name", "Alipay")
    assert code == 1 and "partner_unknown" in output and "Traceback" not in output
    run("partners", "add", "YTO", "--kind", "logistics", "--name", "YTO Express")
    code, output = run("keys", "create", "--role", "payment", "--owner", "YTO", "--name", "YTO")
    assert code == 1 and "partner_kind_mismatch" in output
    run("partners", "add", "ALIPAY", "--kind", "payment", "--name", "Alipay")
    code, output = run("keys", "create", "--role", "payment", "--owner", "ALIPAY", "--name", "Alipay")
    assert code == 0 and "sg_payment_" in output
    code, output = run("keys", "create", "--role", "logistics", "--owner", "YTO", "--name", "YTO")
    assert code == 0 and "sg_logistics_" in output
