"""Messages that arrive together are kept and planned in one transaction: the answers, cases and receipts are those
that taking each alone, in the same order, gives — duplicates, reused ids, bad messages and changes included."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import replace

from sqlalchemy import select

from services.authority import planning
from services.authority.app import create_app
from services.authority.intake import arrival_of
from services.authority.models import cases, messages, metadata, receipts
from services.authority.verification import FilerCertificate
from services.customs.gateway import HttpAuthorityAdapter
from services.customs.messages import build_message
from tests.authority.support import (
    authority_settings,
    eventually,
    message,
    review_answer,
    running_authority,
    with_facts,
)
from tests.customs.messages.factories import DECLARANT, facts, mail_facts, other_identity

LATER = 3600.0  # no receipt falls due while a test looks at the plan


@asynccontextmanager
async def intake_of(settings, receiver):
    app = create_app(settings, customs_transport=receiver.transport, configure_logs=False)
    async with app.router.lifespan_context(app):
        yield app


def bodies(keys) -> list[bytes]:
    """A morning's filings, with everything that needs care when taken together."""
    adapter = HttpAuthorityAdapter("http://authority", sender_id=DECLARANT.dxp_id)
    order, inventory = message("CEB311", keys), message("CEB621", keys)
    change = with_facts("CEB621", keys, facts(app_type=2))  # replaces the list filed just before
    second_new = with_facts("CEB621", keys, facts())  # appType 1 again for a copNo customs holds: rejected
    review = with_facts("CEB621", keys, facts(facts().parcel.model_copy(update={"merchant_order_no": "R300-1"}),
                                              declaration_id="dcl_review"))
    mail, mail_deleted = with_facts("CUSITM", keys, mail_facts()), with_facts("CUSITM", keys, mail_facts(app_type=3))
    forged = replace(with_facts("CEB621", keys, facts(declaration_id="dcl_forged")), guid=order.guid)
    foreign = message("CEB621", keys, declaration_id="dcl_foreign")
    unsigned_by_customs = replace(foreign, body=with_facts("CEB621", keys, facts()).body)  # guid mismatch
    badly_signed = with_facts("CEB621", keys, facts(declaration_id="dcl_bad"))
    badly_signed = replace(badly_signed, body=message("CEB621", keys).body.replace(b"dcl_", b"dcX_"))
    sequence = [order, inventory, order, change, second_new, forged, review, review_answer(keys, review),
                review_answer(keys, inventory), mail, mail_deleted, unsigned_by_customs, badly_signed,
                message("CEB623", keys, declaration_id="dcl_nothing", pre_no="B1", invt_no="I1",
                        reason="cancelled")]
    sequence.append(build_message("CEB621", facts(declaration_id="dcl_other_key"), DECLARANT, other_identity()))
    return [adapter.envelope(m) for m in sequence] + [b"{not json", b'{"Message": {}}']


async def snapshot(app) -> dict:
    async with app.state.db.reader() as session:
        kept = (await session.execute(select(
            messages.c.message_id, messages.c.kind, messages.c.cop_no, messages.c.result, messages.c.problem_code,
            messages.c.answer_status, messages.c.request_body).order_by(messages.c.id))).all()
        planned = (await session.execute(select(
            receipts.c.case_guid, receipts.c.seq, receipts.c.return_status, receipts.c.return_info,
            receipts.c.state).order_by(receipts.c.id))).all()
        held = (await session.execute(select(
            cases.c.guid, cases.c.kind, cases.c.cop_no, cases.c.app_type, cases.c.state, cases.c.decision,
            cases.c.pre_no, cases.c.invt_no).order_by(cases.c.guid))).all()
    return {"messages": [tuple(r) for r in kept], "receipts": [tuple(r) for r in planned],
            "cases": [tuple(r) for r in held]}


def comparable(answer) -> tuple:
    body = {k: v for k, v in answer.body.items() if k != "received_at"}
    return answer.status, body


async def test_a_batch_gives_what_taking_each_alone_in_order_gives(tmp_path, database_provider, receiver, keys):
    rules = [{"order_no_prefix": "R300-", "answer": 300}]
    receiver.script = [503] * 1000  # receipts stay planned: the plans compared are the ones made

    async def settings():  # a fresh database each time
        url = await database_provider.url_for("authority", metadata)
        return authority_settings(tmp_path, keys, url, declaring_delay_s=LATER, rules=rules)

    cert = FilerCertificate(keys.customs.cert_file.read_bytes())
    sent = bodies(keys)
    async with intake_of(await settings(), receiver) as app:
        alone = [(await app.state.intake.take([arrival_of(body, cert)]))[0] for body in sent]
        one_by_one = await snapshot(app)
    async with intake_of(await settings(), receiver) as app:
        together = await app.state.intake.take([arrival_of(body, cert) for body in sent])
        in_one = await snapshot(app)
    assert [comparable(a) for a in together] == [comparable(a) for a in alone]
    assert in_one == one_by_one
    assert sorted((kind, app_type, state) for _g, kind, _c, app_type, state, *_ in in_one["cases"]) == [
        ("CEB311", 1, "done"), ("CEB621", 1, "rejected"), ("CEB621", 1, "released"),  # the reviewed one
        ("CEB621", 1, "withdrawn"), ("CEB621", 2, "released"), ("CEB623", 1, "rejected"), ("CUSITM", 1, "withdrawn"),
        ("CUSITM", 3, "closed"), ("REVIEWANSWER", 1, "done")]
    statuses = [a.status for a in together]
    assert statuses[:5] == [200, 200, 200, 200, 200] and together[2].body["duplicate"] is True
    assert (statuses[5], together[5].body["code"]) == (409, "message_id_reused")
    assert statuses[7] == 200 and (statuses[8], together[8].body["code"]) == (409, "no_review_pending")
    assert statuses[-2:] == [400, 400] and together[-3].body["code"] == "signature_invalid"
    by_case = {}
    for case_guid, seq, status, _info, state in in_one["receipts"]:
        by_case.setdefault(case_guid, []).append((seq, status, state))
    assert all([seq for seq, _, _ in rows] == list(range(1, len(rows) + 1)) for rows in by_case.values())


async def test_messages_filed_at_once_are_answered_after_one_commit_and_get_their_receipts(settings_for, receiver,
                                                                                          keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        filed = [message(kind, keys, declaration_id=f"dcl_together{n}", order_id=f"ord_together{n}")
                 for n in range(12) for kind in ("CEB311", "CEB621")]
        answers = await asyncio.gather(*(gateway.file(each) for each in filed + filed[:3]))
        assert {a.status_code for a in answers} == {200}
        assert [a.duplicate for a in answers[-3:]] == [True, True, True]
        for each in filed:
            expected = [2, 120] if each.kind == "CEB311" else [2, 120, 800]
            await eventually(lambda each=each, expected=expected: receiver.statuses(each.guid) == expected)
        kept = (await client.get("/v1/messages", params={"limit": 500})).json()
    assert sorted(m["message_id"] for m in kept) == sorted(each.guid for each in filed)


async def test_a_batch_that_fails_is_taken_again_one_message_at_a_time(settings_for, receiver, keys, monkeypatch):
    flush = planning.Batch.flush
    failed = []

    async def failing_once(batch):
        if len(batch.messages) > 1 and not failed:
            failed.append(len(batch.messages))
            raise RuntimeError("the database went away")
        await flush(batch)

    monkeypatch.setattr(planning.Batch, "flush", failing_once)
    cert = FilerCertificate(keys.customs.cert_file.read_bytes())
    async with intake_of(settings_for(declaring_delay_s=LATER), receiver) as app:
        intake = app.state.intake
        filed = [message("CEB621", keys, declaration_id=f"dcl_retry{n}") for n in range(3)]
        adapter = HttpAuthorityAdapter("http://authority", sender_id=DECLARANT.dxp_id)
        answers = await asyncio.gather(*(intake.receive(adapter.envelope(each)) for each in filed))
        assert [a.status for a in answers] == [200, 200, 200] and failed == [3]
        assert {a.body["duplicate"] for a in answers} == {False}
        again = await intake.take([arrival_of(adapter.envelope(each), cert) for each in filed])
        assert {a.body["duplicate"] for a in again} == {True}
        planned = await snapshot(app)
    assert len(planned["receipts"]) == 9 and len(planned["messages"]) == 3


async def test_a_resend_among_new_messages_is_answered_from_what_was_kept(settings_for, receiver, keys):
    async with intake_of(settings_for(declaring_delay_s=LATER), receiver) as app:
        intake = app.state.intake
        adapter = HttpAuthorityAdapter("http://authority", sender_id=DECLARANT.dxp_id)
        first = message("CEB621", keys, declaration_id="dcl_resent")
        taken = await intake.receive(adapter.envelope(first))
        fresh = [message("CEB621", keys, declaration_id=f"dcl_fresh{n}") for n in range(3)]
        forged = replace(message("CEB621", keys, declaration_id="dcl_forged"), guid=first.guid)
        take, tries = intake.take, []

        async def recorded(arrivals, *, look_up=True):
            tries.append((len(arrivals), look_up))
            return await take(arrivals, look_up=look_up)

        intake.take = recorded
        answers = await asyncio.gather(*(intake.receive(adapter.envelope(each))
                                         for each in [fresh[0], first, fresh[1], forged, fresh[2]]))
        planned = await snapshot(app)
    assert [a.status for a in answers] == [200, 200, 200, 409, 200]
    assert answers[1].body == {**taken.body, "duplicate": True}
    assert answers[3].body["code"] == "message_id_reused"
    assert [a.body["duplicate"] for a in (answers[0], answers[2], answers[4])] == [False, False, False]
    assert len(planned["receipts"]) == 4 * 3 and len(planned["cases"]) == 4
    assert [m[0] for m in planned["messages"]].count(first.guid) == 1
    assert tries == [(5, False), (5, True)]  # kept together without looking; a resend among them: looked up
