"""The declaration page: what it shows, the actions a declaration allows, claims held by someone else, and the
personal data that stays masked until a broker asks (and the asking is audited)."""

from __future__ import annotations

import re

from tests.customs.broker import file_held
from tests.customs.console.pages import element_text
from tests.customs.events import accepted, mail, new_order_id, paid, waybill_for


def page_url(declaration) -> str:
    return f"/console/declarations/{declaration.id}"


async def act(browser, declaration, action: str, **fields: str):
    return await browser.post_form(f"{page_url(declaration)}/actions/{action}", fields, from_page=page_url(declaration))


async def audit(customs, declaration) -> list:
    from services.customs.repository import DeclarationRepository

    async with customs.runtime.db.reader() as session:
        return await DeclarationRepository(session).audit_trail(declaration.id)


def form_ids(page: str) -> set[str]:
    return set(re.findall(r'<form[^>]*id="(action-[a-z_]+)"', page))


async def test_a_held_declaration_is_claimed_amended_and_filed_through_the_brokers_use_cases(customs, broker):
    declaration = await file_held(customs)  # a T-shirt declared at 5 CNY: undervalued, held before filing
    page = (await broker.get(page_url(declaration))).text
    assert element_text(page, "status") == "Held before filing · CEB 1"
    assert element_text(page, "claim-free") == "Nobody holds this declaration."
    # The declaration's allowed actions decide the forms; they stay disabled until the broker holds the claim.
    assert form_ids(page) == {"action-claim", "action-file", "action-amend", "action-cancel", "action-reject"}
    assert page.count("<fieldset disabled>") == 4

    response = await act(broker, declaration, "claim")
    assert response.status_code == 303
    assert response.headers["location"] == f"{page_url(declaration)}?done=claim"
    page = (await broker.get(response.headers["location"])).text
    assert element_text(page, "notice").startswith("Claimed")
    assert element_text(page, "claimed-by-me").startswith("You hold this declaration until")
    assert "<fieldset disabled>" not in page and "action-unclaim" in form_ids(page)

    response = await act(broker, declaration, "amend", **{"lines-1-unit_price": "100", "lines-1-total_price": "100",
                                                         "lines-1-hs_code": "6109100010"},
                         reason_code="value_corrected", note="Invoice INV-7")
    assert response.status_code == 303, response.text
    response = await act(broker, declaration, "file", reason_code="findings_resolved", note="Invoice checked")
    assert response.status_code == 303, response.text
    stored = await customs.declaration(declaration.order_id)
    assert (stored.status, stored.ceb_code, stored.claimed_by) == ("filed", 2, None)
    actions = [(e.action, e.actor, e.reason_code) for e in await audit(customs, declaration)][-2:]
    assert actions == [("amend", "Kashgar Brokerage", "value_corrected"),
                       ("file", "Kashgar Brokerage", "findings_resolved")]
    # The same event the API's filing publishes, from the same transaction (the outbox).
    await customs.wait_published(declaration.order_id, "declaration.filed")
    page = (await broker.get(page_url(declaration))).text
    assert form_ids(page) == {"action-claim"}  # filed: the authority has the next move
    assert "CUSITM" in page  # the message filed is listed, with a link to it exactly as filed
    await customs.answer(stored, 120, 800)
    page = (await broker.get(page_url(declaration))).text
    assert element_text(page, "status").startswith("Released") and form_ids(page) == set()


async def test_a_declaration_claimed_by_another_broker_is_read_only_with_who_holds_it(customs, broker, broker2):
    declaration = await file_held(customs)
    assert (await act(broker, declaration, "claim")).status_code == 303
    page = (await broker2.get(page_url(declaration))).text
    assert element_text(page, "claimed-by-other").startswith("Claimed by Kashgar Brokerage until")
    assert form_ids(page) == set()  # no claim, no action forms
    # Acting anyway (a stale tab, a forged form) is refused by the same use case the API runs.
    response = await act(broker2, declaration, "file", reason_code="findings_resolved")
    assert response.status_code == 409
    assert element_text(response.text, "error").startswith("Kashgar Brokerage holds this declaration until")
    response = await act(broker2, declaration, "claim")
    assert response.status_code == 409
    stored = await customs.declaration(declaration.order_id)
    assert (stored.status, stored.claimed_by) == ("held", "Kashgar Brokerage")


async def test_a_bad_form_is_shown_again_with_the_field_at_fault_and_nothing_changes(customs, broker):
    declaration = await file_held(customs)
    await act(broker, declaration, "claim")
    before = len(await audit(customs, declaration))

    missing = await act(broker, declaration, "reject", note="")
    assert missing.status_code == 422
    assert element_text(missing.text, "error") == "Fill in “Reason”."
    assert 'id="reject-reason_code" name="reason_code" required aria-invalid="true"' in missing.text

    # The use case's own rules apply: a line whose total is not price × quantity is refused, the form kept.
    wrong = await act(broker, declaration, "amend", **{"lines-1-unit_price": "7"}, reason_code="value_corrected",
                      note="kept for the form")
    assert wrong.status_code == 422
    assert "kept for the form</textarea>" in wrong.text  # what the broker typed is still there

    made_up = await act(broker, declaration, "file", reason_code="because_i_say_so")
    assert made_up.status_code == 422 and "Choose one of the offered values" in element_text(made_up.text, "error")
    stored = await customs.declaration(declaration.order_id)
    assert stored.status == "held" and len(await audit(customs, declaration)) == before


async def test_an_action_the_status_does_not_allow_is_refused_on_the_page(customs, broker):
    declaration = await file_held(customs)
    await act(broker, declaration, "claim")
    response = await act(broker, declaration, "record_inspection", attended_by="Li",
                         attended_at="2026-03-01T09:30:00+08:00", outcome="passed")
    assert response.status_code == 409
    assert element_text(response.text, "error") == "Not possible while the declaration is Held before filing."
    unknown = await act(broker, declaration, "release", reason_code="documents_verified")
    assert unknown.status_code == 404 and element_text(unknown.text, "error") == "The console has no such action."


async def test_the_authoritys_inspection_offers_recording_it(customs, broker):
    declaration = await customs.answer(await customs.file(mail(new_order_id())), 120, 500)
    await act(broker, declaration, "claim")
    page = (await broker.get(page_url(declaration))).text
    assert form_ids(page) == {"action-unclaim", "action-record_inspection"}
    response = await act(broker, declaration, "record_inspection", attended_by="Li Wei",
                         attended_at="2026-03-01T09:30:00+08:00", outcome="passed", note="as declared")
    assert response.status_code == 303, response.text
    stored = await customs.declaration(declaration.order_id)
    assert (stored.status, stored.needs_broker) == ("inspection", False)
    assert (await customs.answer(stored, 399, 800)).status == "released"


async def test_personal_data_is_masked_until_the_broker_asks_and_the_asking_is_audited(customs, broker, broker2):
    declaration = await file_held(customs)
    page = (await broker.get(page_url(declaration))).text
    for clear in ("Aynur Tursun", "+86 138 0013 8000", "12 Renmin East Road", "11010519491231002X"):
        assert clear not in page
    assert "A•••• T•••••" in page and "+•• ••• •••• 8000" in page and "••••••••••••••002X" in page
    assert "Kashgar" in page and "844000" in page  # city and postal code stay readable

    refused = await broker.post_form(f"{page_url(declaration)}/personal-data", {"reason_code": ""},
                                     from_page=page_url(declaration))
    assert refused.status_code == 422 and "Aynur Tursun" not in refused.text
    assert not [e for e in await audit(customs, declaration) if e.action == "reveal_personal_data"]

    response = await broker.post_form(f"{page_url(declaration)}/personal-data",
                                      {"reason_code": "verify_identity", "note": "payer check"},
                                      from_page=page_url(declaration))
    assert response.status_code == 303 and response.headers["location"].endswith("?done=reveal#parties")
    page = (await broker.get(page_url(declaration))).text
    assert "Aynur Tursun" in page and "11010519491231002X" in page
    assert element_text(page, "revealed").startswith("Personal data shown: your request of")
    entry = [e for e in await audit(customs, declaration) if e.action == "reveal_personal_data"]
    assert len(entry) == 1
    assert (entry[0].actor, entry[0].reason_code, entry[0].note) == ("Kashgar Brokerage", "verify_identity",
                                                                      "payer check")
    assert entry[0].from_status == entry[0].to_status == "held"  # reading changes no status
    # The permission is that broker's session's audit entry: another broker still sees masked values.
    assert "Aynur Tursun" not in (await broker2.get(page_url(declaration))).text


async def test_the_documents_side_by_side_highlight_where_they_disagree(customs, broker):
    order_id = new_order_id()
    order = accepted(order_id)
    await customs.file(order, documents=False)
    await customs.attach(paid(order_id, payer_name="Someone Else"))
    await customs.attach(waybill_for(order))
    declaration = await customs.wait_declaration(order_id, "held")
    page = (await broker.get(page_url(declaration))).text
    rows = re.findall(r'<tr class="(disagree)?" data-row="([a-z_]+)">', page)
    assert {"order_no", "consignee_name", "buyer_name", "buyer_id_number", "amount_paid",
            "tracking_number"} <= {row for _, row in rows}
    assert {row for mark, row in rows if mark} == {"buyer_name"}  # what the three-document match found
    assert "S•••••• E•••" in page  # the payer's name, masked like every name
    assert element_text(page, "documents-missing") is None  # all three documents are in


async def test_next_and_previous_follow_the_brokers_queue(customs, broker):
    first, second, third = [await file_held(customs) for _ in range(3)]
    page = (await broker.get(page_url(second))).text
    assert f'href="/console/declarations/{first.id}" id="previous"' in page
    assert f'href="/console/declarations/{third.id}" id="next"' in page
    # With a filter, the walk stays inside it (and the links keep the filter).
    page = (await broker.get(f"{page_url(third)}?q={first.merchant_order_no}")).text
    assert f'href="/console/declarations/{first.id}?q={first.merchant_order_no}" id="previous"' in page
    assert 'id="next"' not in page  # the second is not in this search: the walk skips it
    page = (await broker.get(f"{page_url(third)}?channel=mail")).text
    assert f'href="/console/declarations/{second.id}?channel=mail" id="previous"' in page


async def test_a_bad_queue_filter_is_reported_and_the_page_still_shows(customs, broker):
    declaration = await file_held(customs)
    response = await broker.get(f"{page_url(declaration)}?state=nonsense&channel=boat")
    assert response.status_code == 200  # a bad filter is reported, the page still shows
    assert element_text(response.text, "error") is not None


async def test_errors_speak_the_brokers_language(customs, broker):
    declaration = await file_held(customs)
    await act(broker, declaration, "claim")
    await broker.get("/console/language", params={"to": "zh", "next": page_url(declaration)})
    response = await act(broker, declaration, "reject", note="")
    assert response.status_code == 422
    assert element_text(response.text, "error") == "请填写“原因”。"


async def test_the_messages_filed_and_the_receipts_are_listed_and_shown_exactly_as_they_were(customs, broker):
    held = await file_held(customs)
    page = (await broker.get(page_url(held))).text
    assert "No message has been filed with the authority" in page
    declaration = await customs.answer(await customs.file(mail(new_order_id())), 120)
    [message] = await customs.messages(declaration.id)
    page = (await broker.get(page_url(declaration))).text
    assert 'class="msg-out"' in page and 'class="msg-in"' in page
    assert f'href="/console/messages/{message.guid}"' in page
    filed = await broker.get(f"/console/messages/{message.guid}")
    assert filed.status_code == 200 and filed.text == message.body  # exactly as filed
    assert filed.headers["content-type"] == "text/plain; charset=utf-8"  # shown, never rendered
    assert filed.headers["x-content-type-options"] == "nosniff"
    receipt_link = re.search(r'href="(/console/receipts/\d+)"', page).group(1)
    receipt = await broker.get(receipt_link)
    assert receipt.status_code == 200 and "<ds:Signature" in receipt.text
    assert (await broker.get("/console/messages/" + "0" * 36)).status_code == 404


async def test_signing_in_again_returns_to_the_declaration(customs, broker):
    declaration = await file_held(customs)
    customs.clock.advance(hours=9)  # the session has ended meanwhile
    response = await broker.http.post(f"{page_url(declaration)}/actions/claim?channel=mail", data={})
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/console/sign-in?next=%2Fconsole%2Fdeclarations%2F") and "ended=1" in location
    assert "channel%3Dmail" in location
