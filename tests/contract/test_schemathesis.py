"""The HTTP contract, checked the way an integrator would: schemathesis against the running system.

The whole stack runs as real processes (shared.stack: three services, the sandbox carrier and authority, its own
nats-server), seeded with orders of every channel. Each service's /openapi.json is then run through schemathesis
with every check and every phase (examples, coverage, fuzzing, stateful), a fixed seed and a bounded number of
examples per operation, with the key of the role each operation needs. Any server error or any disagreement
between a document and its service fails the test; ALLOWED below lists the only exceptions, each with its reason.

Run with `pytest -m contract` (deselected by default: see README "Contract check"). The schemathesis CLI is
driven with a generated `schemathesis.toml` rather than the pytest plugin: one `st run` per service covers all
four phases (the plugin's parametrized tests have no stateful phase) and prints a reproducible curl per failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio

from shared.stack import SANDBOXES, SERVICES, Stack
from tests.e2e.conftest import FAST
from tests.e2e.journey import Actors, order
from tests.support import POSTGRES_URL

pytestmark = pytest.mark.contract

SEED = 16
# Examples per operation and phase; the four runs together take about three minutes on a 2-core machine.
MAX_EXAMPLES = int(os.environ.get("SILKGATE_CONTRACT_MAX_EXAMPLES", "12"))
STATEFUL_MAX_STEPS = 6


@dataclass(frozen=True)
class Allowance:
    """One check not applied to some operations, and why that is the tool's limit rather than our bug."""

    services: tuple[str, ...]
    path_regex: str
    method: str | None
    check: str
    reason: str


ALLOWED = (
    Allowance(
        ("orders", "customs", "postal"), r"^/v1/(ops/dead-letters/replay|receipts/batch)$", "POST",
        "unsupported_method",
        "GET on these paths is the documented GET /v1/ops/dead-letters/{dead_letter_id} (or GET "
        "/v1/receipts/{receipt_id}) with the id 'replay' ('batch'): it answers the documented 422 for an id that is "
        "not one, where the tool expects a 405 because it checks each path template alone.",
    ),
    Allowance(
        ("orders", "customs"), r"^/v1/(orders|orders/batch|payments/batch|orders/\{order_id\}/(payment|waybill|return)"
        r"|declarations/\{declaration_id\}/(amend|answer|inspection|file|reject|cancel|request-documents))$",
        "POST", "positive_data_acceptance",
        "Orders and broker actions have cross-field rules JSON Schema cannot state (amount_paid = goods_value + "
        "freight + tax - discount, HS codes that exist, a payment that matches its order, an action the "
        "declaration's current state allows); a schema-valid body breaking them is rightly 409/422 with the rule's "
        "code, which is documented.",
    ),
    Allowance(
        ("orders", "customs", "postal"), r"^/v1/(orders|declarations|dispatches|ops/dead-letters)$", "GET",
        "positive_data_acceptance",
        "`starting_after`/`cursor` must be a value a previous page returned; a well-formed string that is not one "
        "is rightly 422 `cursor_invalid` (documented). JSON Schema cannot say 'a value this API gave you'.",
    ),
    Allowance(
        ("orders",), r"^/v1/(webhook-endpoints.*|documents/\{kind\}|api-keys|partners.*)$", None,
        "positive_data_acceptance",
        "Webhook URLs must resolve to a public address (no private ranges, no bare hosts: SSRF protection), "
        "documents need orders whose documents are ready, keys and partners need registered owners; these depend "
        "on the world, not the body's shape, and answer a documented 422/409.",
    ),
    Allowance(
        ("postal",), r"^/v1/tracking-events$", "POST", "positive_data_acceptance",
        "A tracking event must name a parcel handed to this carrier, with a valid S10 check digit and a time not "
        "in the future; the schema can give the shape only. Rejections are documented 404/422 problems.",
    ),
    Allowance(
        ("customs",), r"^/v1/declarations/\{declaration_id\}/(release|inspect|detain|inspection-result)$", "POST",
        "positive_data_acceptance",
        "Removed broker decisions (deprecated in the document): they remain only to tell old clients where the action "
        "went, so every call, however valid, is the documented 410 `broker_decision_removed`.",
    ),
    Allowance(
        ("orders", "postal"), r"^/v1/(orders/batch|payments/batch|tracking-events)$", "POST",
        "negative_data_rejection",
        "Batches answer 200 with one result per item by design (documented): an item that breaks the item schema "
        "is reported `failed`/`rejected` with its problem instead of sinking the batch. The check sees a "
        "schema-violating body answered 200; JSON Schema has no way to say 'invalid items are reported, not refused'.",
    ),
    Allowance(
        ("customs",), r"^/v1/receipts$", "POST", "positive_data_acceptance",
        "Receipts are signed XML from the customs authority; a generated string is never validly signed.",
    ),
)


# Phases not run for an operation, and why that is the tool's limit.
PHASES_OFF = (
    Allowance(
        ("customs",), r"^/v1/receipts$", "POST", "fuzzing",
        "The authority's receipts are signed XML, documented as an `application/xml` string; schemathesis' XML "
        "serializer discards almost every string it generates for that media type and its own `filter_too_much` "
        "health check then stops the operation. The examples and coverage phases still call it.",
    ),
)

# Operations left out of the run because of a defect found by it and reported, not fixed here (each with why).
# Operations left out of the run because they are wrong, each with why (none at present: the ops dead-letter API
# this run found answering 503 after 10 s under the services' own NATS users now lists, shows and drops, and refuses
# a replay at once with 409 replay_needs_operator; tests/ops/test_dead_letters_secured.py).
KNOWN_DEFECTS: tuple[tuple[str, str], ...] = ()


# ── the stack ────────────────────────────────────────────────────────────────


SERVICE_NAMES = (*SERVICES, *SANDBOXES)


class PatientStack(Stack):
    """The stack, given three minutes to get ready: this run goes in CI after the whole suite, on a busy machine."""

    async def wait_ready(self, services=SERVICE_NAMES, timeout: float = 180) -> None:
        await super().wait_ready(services, timeout=max(timeout, 180))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded(tmp_path_factory):
    """A running stack with an order of every channel, a declaration, a parcel on its way and a webhook."""
    stack = PatientStack(tmp_path_factory.mktemp("contract"), postgres_url=POSTGRES_URL, extra_env=FAST)
    await stack.start()
    actors = Actors(stack)
    try:
        yield stack, await _seed(stack, actors)
    finally:
        await actors.close()
        await stack.stop()


async def _seed(stack: Stack, actors: Actors) -> dict[str, str]:
    mail = await actors.place(order("mail"))
    express = await actors.place(order("express"))
    ecommerce = await actors.place(order("ecommerce"))
    travelled = await actors.wait_status(mail["id"], "released", "handed_off", "in_transit", "delivered", timeout=90)
    declaration = await actors.declaration_of(ecommerce["id"])
    # An address literal: nothing to resolve on a machine without DNS.
    hook = await actors.merchant.post("/v1/webhook-endpoints",
                                      json={"url": "https://93.184.215.14/hooks", "event_types": ["*"]})
    assert hook.status_code == 201, hook.text
    dispatches = (await actors.postal_ops.get("/v1/dispatches")).json()["items"]
    return {
        "order_id": express["id"], "declaration_id": declaration["id"], "endpoint_id": hook.json()["id"],
        "tracking_number": travelled["tracking_number"],
        "dispatch_id": dispatches[0]["id"] if dispatches else "",
    }


# ── the run ──────────────────────────────────────────────────────────────────

# Seeded ids given to the operations that read them, so those reach past a 404. Not the webhook endpoint (the
# fuzzing phase may delete it, and the stateful phase then finds the pinned id gone where it created its own).
PINNED = {
    "orders": [(r"^/v1/orders/\{order_id\}", ["order_id"])],
    "customs": [(r"^/v1/declarations/\{declaration_id\}", ["declaration_id"])],
    "postal": [(r"^/v1/parcels/", ["tracking_number"]), (r"^/v1/dispatches/", ["dispatch_id"])],
}

# Which key each operation is called with: the role it is for (the default first).
ROLES = {
    "orders": [("merchant", None), ("ops", r"^/v1/(api-keys|partners|ops/).*"),
               ("payment", r"^/v1/(orders/\{order_id\}/payment|payments/batch)$"),
               ("logistics", r"^/v1/orders/\{order_id\}/waybill$")],
    "customs": [("broker", None), ("ops", r"^/v1/ops/.*"), ("authority", r"^/v1/receipts$")],
    "postal": [("carrier", None), ("ops", r"^/v1/(dispatches|ops/).*")],
    "carrier": [("carrier", None)],
}


@pytest.mark.parametrize("service", ["orders", "customs", "postal", "carrier"])
async def test_the_service_does_what_its_openapi_document_says(seeded, service, tmp_path):
    stack, seeds = seeded
    config = tmp_path / "schemathesis.toml"
    config.write_text(render_config(service, stack, seeds), encoding="utf-8")
    started = time.monotonic()
    result = await asyncio.to_thread(
        subprocess.run,
        [str(Path(sys.executable).with_name("st")), "--no-color", "--config-file", str(config), "run",
         # No --checks on the command line: it would override the allowances; every check is on by default
         # (schemathesis 4: each `checks.<name>.enabled` defaults to true).
         f"{stack.url(service)}/openapi.json", "--report-dir", str(tmp_path / "report")],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
    )
    print(f"schemathesis {service}: {time.monotonic() - started:.0f} s")
    assert result.returncode == 0, f"schemathesis found contract failures in {service}:\n{result.stdout[-20000:]}"


def render_config(service: str, stack: Stack, seeds: dict[str, str]) -> str:
    """schemathesis.toml for one service: seed, limits, phases, keys per operation, seeded ids, allowances."""
    def bearer(role: str) -> str:
        return json.dumps({"Authorization": f"Bearer {stack.keys[role]}"}).replace('": "', '" = "')

    (default_role, _), *others = ROLES[service]
    lines = [
        f"seed = {SEED}",
        "workers = 1",
        f"headers = {bearer(default_role)}",
        "[generation]",
        f"max-examples = {MAX_EXAMPLES}",
        "deterministic = true",
        # PostgreSQL text cannot hold U+0000: the services answer such text 422 `nul_character_not_allowed`
        # (shared.errors, tests/shared/test_errors.py) rather than a 500, but JSON Schema cannot take one character
        # out of every string, so strings with it are not generated as valid data.
        "allow-x00 = false",
        "[phases.examples]\nenabled = true",
        "[phases.coverage]\nenabled = true",
        "[phases.fuzzing]\nenabled = true",
        f"[phases.stateful]\nenabled = true\nmax-steps = {STATEFUL_MAX_STEPS}",
    ]
    for allowance in PHASES_OFF:
        if service in allowance.services:
            lines += ["[[operations]]", f"# {allowance.reason}",
                      f"include-path-regex = {json.dumps(allowance.path_regex)}",
                      f'include-method = "{allowance.method}"', f"phases.{allowance.check}.enabled = false"]
    for regex, reason in KNOWN_DEFECTS:
        lines += ["[[operations]]", f"# {reason}", f"include-path-regex = {json.dumps(regex)}", "enabled = false"]
    for regex, names in PINNED.get(service, ()):
        pins = ", ".join(f'"path.{name}" = {json.dumps(seeds[name])}' for name in names if seeds.get(name))
        if pins:
            lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex)}", f"parameters = {{ {pins} }}"]
    for role, regex in others:
        lines += ["[[operations]]", f"include-path-regex = {json.dumps(regex)}", f"headers = {bearer(role)}"]
    for allowance in ALLOWED:
        if service not in allowance.services:
            continue
        lines += ["[[operations]]", f"# {allowance.reason}", f"include-path-regex = {json.dumps(allowance.path_regex)}"]
        if allowance.method:
            lines.append(f'include-method = "{allowance.method}"')
        lines.append(f"checks.{allowance.check}.enabled = false")
    return "\n".join(lines) + "\n"


def test_every_allowance_gives_its_reason():
    for allowance in ALLOWED:
        assert len(allowance.reason) > 60 and allowance.check in {
            "positive_data_acceptance", "negative_data_rejection", "response_schema_conformance",
            "status_code_conformance", "content_type_conformance", "unsupported_method"}
