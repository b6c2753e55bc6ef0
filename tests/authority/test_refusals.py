"""Bad messages are refused with problem+json naming the field, and kept exactly as received; a repeat of a refused
message gets the same refusal."""

from __future__ import annotations

import json
from dataclasses import replace

from lxml import etree

from services.customs.messages import build_message
from services.customs.messages.ecommerce_import import build_ceb621
from shared.ceb.fields import new_guid, to_bytes
from shared.ceb.signing import sign_bytes, sign_xml
from tests.authority.support import eventually, message, review_answer, running_authority
from tests.customs.messages.factories import DECLARANT, facts, mail_facts, other_identity


async def refused_messages(client) -> list[dict]:
    return (await client.get("/v1/messages", params={"result": "refused"})).json()


async def test_a_message_signed_with_another_key_is_refused_and_kept(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        forged = build_message("CEB621", facts(), DECLARANT, other_identity())
        answer = await gateway.file(forged)
        assert (answer.outcome, answer.status_code) == ("refused", 422)
        assert (answer.problem["code"], answer.problem["field"]) == ("signature_invalid", "Signature")
        kept = await client.get(f"/v1/messages/{forged.guid}")
        assert kept.status_code == 200
        assert kept.json()["request_body"].encode() == answer.request_body  # exactly as received
        again = await gateway.file(forged)
        assert (again.status_code, again.problem["code"]) == (422, "signature_invalid")
        assert [m["message_id"] for m in await refused_messages(client)] == [forged.guid]  # kept once
    assert receiver.received == []


async def test_an_unsigned_message_is_refused(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        filed = message("CEB621", keys)
        root = etree.fromstring(filed.body)
        root.remove(root[-1])
        answer = await gateway.file(replace(filed, body=to_bytes(root)))
        assert (answer.status_code, answer.problem["code"]) == (422, "signature_missing")


async def test_a_signed_message_breaking_the_xsd_is_refused_naming_the_element(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        root = build_ceb621(facts(), DECLARANT, guid=new_guid())
        root.find(".//{*}InventoryList/{*}gcode").text = "0813"  # signed by customs, but not a 10-digit code
        filed = message("CEB621", keys)
        answer = await gateway.file(replace(filed, guid=root.get("guid"),
                                            body=sign_xml(root, keys.customs_identity)))
        assert (answer.status_code, answer.problem["code"]) == (422, "schema_invalid")
        assert answer.problem["field"] == "CEB621Message.Inventory.InventoryList[1].gcode"


async def test_codes_outside_the_tables_are_refused(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        root = build_ceb621(facts(), DECLARANT, guid=new_guid())
        root.find(".//{*}InventoryList/{*}country").text = "998"  # three digits, but no country's
        filed = replace(message("CEB621", keys), guid=root.get("guid"), body=sign_xml(root, keys.customs_identity))
        answer = await gateway.file(filed)
        assert (answer.status_code, answer.problem["code"], answer.problem["field"]) == (
            422, "code_table", "CEB621Message.Inventory.InventoryList[1].country")


async def test_envelopes_that_cannot_be_read_are_refused_with_400_and_kept(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        not_json = await client.post("/v1/messages", content=b"<CEB621Message/>")
        assert not_json.status_code == 400 and not_json.headers["content-type"] == "application/problem+json"
        assert not_json.json()["code"] == "json_invalid"
        envelope = json.loads(gateway.envelope(message("CEB621", keys)))
        envelope["Message"]["MessageHead"]["MessageType"] = "CEB511Message.xml"
        unknown = await client.post("/v1/messages", json=envelope)
        assert (unknown.status_code, unknown.json()["code"], unknown.json()["field"]) == (
            400, "message_type_unknown", "Message.MessageHead.MessageType")
        assert [m["problem_code"] for m in await refused_messages(client)] == ["message_type_unknown",
                                                                              "json_invalid"]


async def test_the_envelope_must_name_the_message_it_carries(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        envelope = json.loads(gateway.envelope(filed))
        envelope["Message"]["MessageHead"]["MessageId"] = new_guid()
        wrong_id = await client.post("/v1/messages", json=envelope)
        assert (wrong_id.status_code, wrong_id.json()["code"]) == (422, "message_id_mismatch")
        envelope = json.loads(gateway.envelope(filed))
        envelope["Message"]["MessageHead"]["MessageType"] = "CEB311Message.xml"
        wrong_type = await client.post("/v1/messages", json=envelope)
        assert (wrong_type.status_code, wrong_type.json()["code"]) == (422, "message_type_mismatch")


async def test_a_json_message_with_a_bad_signature_or_content_is_refused(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        filed = build_message("CUSITM", mail_facts(), DECLARANT, keys.customs_identity)
        tampered = replace(filed, body=filed.body.replace(b'"30.00"', b'"3.00"'))
        answer = await gateway.file(tampered)
        assert (answer.status_code, answer.problem["code"]) == (422, "signature_invalid")
        assert answer.problem["field"] == "Message.MessageHead.Signature"
        other = build_message("CUSITM", mail_facts(), DECLARANT, keys.customs_identity)
        unsigned = await gateway.file(replace(other, signature=None))
        assert unsigned.problem["code"] == "signature_missing"
        bad = json.loads(build_message("CUSITM", mail_facts(), DECLARANT, keys.customs_identity).body)
        bad["total_value"] = "999.00"
        body = json.dumps(bad).encode()
        wrong_totals = await gateway.file(replace(filed, guid=bad["guid"], body=body,
                                                  signature=sign_bytes(body, keys.customs_identity)))
        assert (wrong_totals.status_code, wrong_totals.problem["code"]) == (422, "schema_invalid")


async def test_an_answer_for_another_declaration_is_refused(settings_for, receiver, keys):
    settings = settings_for(rules=[{"message_type": "CEB621", "answer": 300}])
    async with running_authority(settings, receiver) as (_client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300])
        answer = await gateway.file(review_answer(keys, filed, cop_no="dcl_someone_else"))
        assert (answer.status_code, answer.problem["code"]) == (422, "cop_no_mismatch")


async def test_the_filer_key_is_required_when_configured(settings_for, receiver, keys):
    async with running_authority(settings_for(filer_api_key="filer-secret"), receiver) as (client, gateway):
        assert (await gateway.file(message("CEB621", keys))).outcome == "accepted"  # the adapter sends it
        envelope = json.loads(gateway.envelope(message("CEB621", keys)))
        anonymous = await client.post("/v1/messages", json=envelope)
        assert anonymous.status_code == 401
        assert (await client.get("/v1/messages")).status_code == 401


async def test_health_readiness_and_metrics(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        await gateway.file(message("CEB621", keys))
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        assert (await client.get("/readyz")).json()["status"] == "ready"
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/v1/messages", "/v1/messages/{message_id}", "/v1/receipts"} <= set(paths)
        bad_query = await client.get("/v1/receipts", params={"limit": 0})
        assert (bad_query.status_code, bad_query.json()["field"]) == (422, "limit")
        metrics = (await client.get("/metrics")).text
        assert 'silkgate_authority_messages_total{kind="CEB621",result="accepted"}' in metrics
