"""The sandbox authority through its API, filed to by customs' real gateway adapter: receipts in order for every
kind of filing, the review, inspection and rejection paths, cancels and returns, idempotent re-filing."""

from __future__ import annotations

from dataclasses import replace

from services.customs.messages import FilingLine
from tests.authority.support import (
    eventually,
    facts,
    inspection_record,
    message,
    review_answer,
    running_authority,
    with_facts,
)
from tests.customs.messages.factories import DECLARANT, export_facts, express_facts, line, mail_facts


async def test_an_import_filing_gets_2_120_800_for_its_list_and_2_120_for_its_order(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        order, inventory = message("CEB311", keys), message("CEB621", keys)
        for filed in (order, inventory):
            answer = await gateway.file(filed)
            assert (answer.outcome, answer.status_code, answer.duplicate) == ("accepted", 200, False)
        await eventually(lambda: receiver.statuses(inventory.guid) == [2, 120, 800])
        await eventually(lambda: receiver.statuses(order.guid) == [2, 120])
    receipts = receiver.of(inventory.guid)
    assert {r.message_type for r in receipts} == {"CEB622"}
    assert {r.cop_no for r in receipts} == {inventory.cop_no}
    assert receipts[0].invt_no is None and receipts[1].invt_no and receipts[1].invt_no == receipts[2].invt_no
    assert receipts[1].invt_no.startswith(DECLARANT.customs_code) and "I" in receipts[1].invt_no
    assert [r.return_time for r in receipts] == sorted(r.return_time for r in receipts)
    assert {r.message_type for r in receiver.of(order.guid)} == {"CEB312"}
    assert receiver.refused == []  # every receipt carried the authority key and a valid signature


async def test_export_mail_and_express_filings_get_their_receipts(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        filed = [with_facts("CEB603", keys, export_facts()), with_facts("CUSITM", keys, mail_facts()),
                 with_facts("EXPMANIFEST", keys, express_facts())]
        for one in filed:
            assert (await gateway.file(one)).outcome == "accepted"
        for one in filed:
            await eventually(lambda one=one: receiver.statuses(one.guid) == [2, 120, 800])
    assert [receiver.of(one.guid)[0].message_type for one in filed] == ["CEB604", "CUSRSP", "CUSRSP"]
    assert receiver.of(filed[1].guid)[0].answered_type == "CUSITM"
    assert "E" in receiver.of(filed[0].guid)[1].invt_no


async def test_the_same_message_again_gets_the_same_answer_and_nothing_twice(settings_for, receiver, keys):
    async with running_authority(settings_for(decision_delay_s=0.2), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        first = await gateway.file(filed)
        again = await gateway.file(filed)  # a resend after a lost answer: a new envelope, the same message
        assert (again.outcome, again.duplicate) == ("accepted", True)
        assert (await client.post("/v1/messages", content=first.request_body)).json()["duplicate"] is True
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])
        planned = (await client.get("/v1/receipts", params={"guid": filed.guid})).json()
        assert [r["return_status"] for r in planned] == [2, 120, 800]  # planned once
        messages = (await client.get("/v1/messages")).json()
        assert [m["message_id"] for m in messages].count(filed.guid) == 1


async def test_a_reused_message_id_with_other_content_is_refused_and_kept(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        other = message("CEB621", keys, declaration_id="dcl_other")
        forged = replace(other, guid=filed.guid)
        answer = await gateway.file(forged)
        assert (answer.outcome, answer.status_code, answer.problem["code"]) == ("refused", 409, "message_id_reused")
        refused = (await client.get("/v1/messages", params={"result": "refused"})).json()
        assert [m["problem_code"] for m in refused] == ["message_id_reused"]


async def test_a_manual_review_waits_for_the_brokers_answer_then_concludes_and_releases(settings_for, receiver, keys):
    settings = settings_for(rules=[{"order_no_prefix": "R300-", "answer": 300, "info": "explain the value"}])
    async with running_authority(settings, receiver) as (_client, gateway):
        filed = with_facts("CEB621", keys, facts(facts().parcel.model_copy(update={"merchant_order_no": "R300-1"})))
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300])
        assert receiver.of(filed.guid)[-1].return_info == "explain the value"
        premature = await gateway.file(inspection_record(keys, filed, "passed"))  # it asked for a review
        assert (premature.status_code, premature.problem["code"]) == (409, "no_inspection_pending")
        answer = review_answer(keys, filed)
        assert (await gateway.file(answer)).outcome == "accepted"
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300, 399, 800])
        await eventually(lambda: receiver.statuses(answer.guid) == [120])
        assert receiver.of(answer.guid)[0].message_type == "CUSRSP"
        late = await gateway.file(review_answer(keys, filed))  # the review is over
        assert (late.status_code, late.problem["code"]) == (409, "no_review_pending")


async def test_an_inspection_passed_releases_failed_rejects_or_detains_by_rule(settings_for, receiver, keys):
    rules = [{"hs_prefix": "0813", "answer": 500}, {"hs_prefix": "0804", "answer": 500, "failed_answer": 502}]
    async with running_authority(settings_for(rules=rules), receiver) as (_client, gateway):
        apricots = facts(lines=(FilingLine.from_order_line(line(1)),))
        figs = facts(lines=(FilingLine.from_order_line(line(1, hs_code="0804200000")),),
                     declaration_id="dcl_figs")
        passed, failed, detained = (with_facts("CEB621", keys, apricots),
                                    with_facts("CEB621", keys, replace(apricots, declaration_id="dcl_failed")),
                                    with_facts("CEB621", keys, figs))
        for filed in (passed, failed, detained):
            await gateway.file(filed)
        for filed in (passed, failed, detained):
            await eventually(lambda filed=filed: receiver.statuses(filed.guid) == [2, 120, 500])
        await gateway.file(inspection_record(keys, passed, "passed"))
        await gateway.file(inspection_record(keys, failed, "failed"))
        await gateway.file(inspection_record(keys, detained, "failed"))
        await eventually(lambda: receiver.statuses(passed.guid) == [2, 120, 500, 399, 800])
        await eventually(lambda: receiver.statuses(failed.guid) == [2, 120, 500, 100])
        await eventually(lambda: receiver.statuses(detained.guid) == [2, 120, 500, 502])


async def test_a_rejection_is_corrected_by_a_change_filing_that_starts_over(settings_for, receiver, keys):
    settings = settings_for(rules=[{"hs_prefix": "9999", "answer": 100, "info": "HS code 9999 does not exist"}])
    async with running_authority(settings, receiver) as (_client, gateway):
        wrong = facts(lines=(FilingLine.from_order_line(line(1, hs_code="9999000000")),))
        first = with_facts("CEB621", keys, wrong)
        await gateway.file(first)
        await eventually(lambda: receiver.statuses(first.guid) == [2, 120, 100])
        assert receiver.of(first.guid)[-1].return_info == "HS code 9999 does not exist"
        corrected = with_facts("CEB621", keys, facts(app_type=2))
        await gateway.file(corrected)
        await eventually(lambda: receiver.statuses(corrected.guid) == [2, 120, 800])
        duplicate_new = with_facts("CEB621", keys, facts())  # appType 1 for a copNo customs holds: refused
        await gateway.file(duplicate_new)
        await eventually(lambda: receiver.statuses(duplicate_new.guid) == [2, 100])
        assert "appType 2" in receiver.of(duplicate_new.guid)[-1].return_info


async def test_rates_decide_when_no_rule_matches(settings_for, receiver, keys):
    async with running_authority(settings_for(review_rate=1.0), receiver) as (_client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 300])


async def test_a_cancel_closes_the_list_and_a_pending_decision_is_not_sent(settings_for, receiver, keys):
    settings = settings_for(rules=[{"order_no_prefix": "R300-", "answer": 300}])
    async with running_authority(settings, receiver) as (_client, gateway):
        under_review = with_facts("CEB621", keys, facts(facts().parcel.model_copy(
            update={"merchant_order_no": "R300-2"})))
        await gateway.file(under_review)
        await eventually(lambda: receiver.statuses(under_review.guid) == [2, 120, 300])
        invt_no = receiver.of(under_review.guid)[1].invt_no
        wrong = with_facts("CEB623", keys, facts(pre_no="B1", invt_no="46002026I000000000", reason="cancelled"))
        await gateway.file(wrong)
        await eventually(lambda: receiver.statuses(wrong.guid) == [2, 100])
        cancel = with_facts("CEB623", keys, facts(pre_no=receiver.of(under_review.guid)[1].pre_no, invt_no=invt_no,
                                                  reason="order cancelled by the buyer"))
        await gateway.file(cancel)
        await eventually(lambda: receiver.statuses(cancel.guid) == [2, 899])
        assert receiver.of(cancel.guid)[0].message_type == "CEB624"
        late_answer = await gateway.file(review_answer(keys, under_review))
        assert late_answer.problem["code"] == "no_review_pending"  # the cancelled list waits for nothing


async def test_a_return_needs_released_goods(settings_for, receiver, keys):
    async with running_authority(settings_for(), receiver) as (_client, gateway):
        filed = message("CEB621", keys)
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120, 800])
        accepted = receiver.of(filed.guid)[1]
        returned = with_facts("CEB625", keys, facts(pre_no=accepted.pre_no, invt_no=accepted.invt_no,
                                                    reason="wrong size"))
        await gateway.file(returned)
        await eventually(lambda: receiver.statuses(returned.guid) == [2, 700])
        assert receiver.of(returned.guid)[-1].message_type == "CEB626"
        other = with_facts("CEB625", keys, facts(declaration_id="dcl_never_released", pre_no="B1", invt_no="I1",
                                                 reason="x"))
        await gateway.file(other)
        await eventually(lambda: receiver.statuses(other.guid) == [2, 100])


async def test_mail_is_cancelled_with_app_type_3(settings_for, receiver, keys):
    async with running_authority(settings_for(decision_delay_s=5), receiver) as (_client, gateway):
        filed = with_facts("CUSITM", keys, mail_facts())
        await gateway.file(filed)
        await eventually(lambda: receiver.statuses(filed.guid) == [2, 120])
        deleted = with_facts("CUSITM", keys, mail_facts(app_type=3))
        await gateway.file(deleted)
        await eventually(lambda: receiver.statuses(deleted.guid) == [2, 899])
    assert receiver.statuses(filed.guid) == [2, 120]  # its decision was withdrawn, never sent
