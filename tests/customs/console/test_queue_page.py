"""The queue page: green lane first then oldest, counts per status, filters, search, waiting times and deadlines,
and the part that refreshes itself."""

from __future__ import annotations

import re

from tests.customs.broker import file_held
from tests.customs.console.pages import element_text
from tests.customs.domain.factories import party
from tests.customs.events import green_held, mail, new_order_id, waybill_for


def row_ids(page: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', page)


def counts(page: str) -> dict[str, int]:
    return {state: int(n) for state, n in re.findall(r'<b data-count="([a-z_]+)">(\d+)</b>', page)}


async def test_green_lane_first_then_oldest_with_counts_per_status(customs, broker):
    standard_old = await file_held(customs)
    green_old = await customs.file(green_held(new_order_id()))
    standard_new = await file_held(customs, "express")
    green_new = await customs.file(green_held(new_order_id()))
    released = await customs.answer(await customs.file(mail(new_order_id())), 120, 800)
    assert released.status == "released"
    page = (await broker.get("/console/queue")).text
    assert row_ids(page) == [green_old.id, green_new.id, standard_old.id, standard_new.id]
    assert counts(page) == {"work": 4, "held": 4, "released": 1}
    assert 'class="lane-green' in page
    # "All" lists the released one too, still in queue order.
    page = (await broker.get("/console/queue?state=all")).text
    assert row_ids(page) == [green_old.id, green_new.id, standard_old.id, standard_new.id, released.id]
    assert row_ids((await broker.get("/console/queue?state=released")).text) == [released.id]


async def test_filters_channel_lane_claimed_by_me_and_age(customs, broker, broker2):
    mail_held = await file_held(customs)
    express_held = await file_held(customs, "express")
    green = await customs.file(green_held(new_order_id()))
    assert row_ids((await broker.get("/console/queue?channel=express")).text) == [express_held.id]
    assert row_ids((await broker.get("/console/queue?lane=green")).text) == [green.id]
    assert row_ids((await broker.get("/console/queue?lane=standard&channel=mail")).text) == [mail_held.id]

    await broker.post_form(f"/console/declarations/{mail_held.id}/actions/claim", {},
                           from_page=f"/console/declarations/{mail_held.id}")
    await broker2.post_form(f"/console/declarations/{express_held.id}/actions/claim", {},
                            from_page=f"/console/declarations/{express_held.id}")
    mine = (await broker.get("/console/queue?mine=1")).text
    assert row_ids(mine) == [mail_held.id]
    assert 'class="mine">by you<' in mine
    everyone = (await broker.get("/console/queue")).text
    assert 'class="other">Urumqi Brokerage<' in everyone
    assert counts(mine)["work"] == 1  # the counts follow the other filters too

    assert row_ids((await broker.get("/console/queue?age=1h")).text) == []
    customs.clock.advance(hours=1, minutes=1)
    assert len(row_ids((await broker.get("/console/queue?age=1h")).text)) == 3


async def test_search_by_order_number_declaration_id_tracking_number_and_buyer(customs, broker):
    wanted = await customs.file(_held_mail("Gulnara Abdurahman", "650102198001011234"))
    other = await file_held(customs, "express")
    order = await _order_of(customs, wanted)
    await customs.attach(waybill_for(order, tracking_number="LNSEARCH0001"))

    for q in (wanted.merchant_order_no, wanted.merchant_order_no.lower(), wanted.id, wanted.order_id,
              "LNSEARCH0001", "gulnara", "Abdurahman", "650102198001011234", "650102 1980 0101 1234"):
        assert row_ids((await broker.get("/console/queue", params={"q": q})).text) == [wanted.id], q
    nothing = (await broker.get("/console/queue", params={"q": "no such thing"})).text
    assert row_ids(nothing) == [] and element_text(nothing, "queue-empty").startswith("Nothing here")
    # A search is text, never SQL: LIKE's wildcards match only themselves.
    assert row_ids((await broker.get("/console/queue", params={"q": "%"})).text) == []
    assert other.id in row_ids((await broker.get("/console/queue")).text)


async def test_waiting_time_and_the_past_deadline_mark(customs, broker):
    declaration = await file_held(customs)
    page = (await broker.get("/console/queue")).text
    assert "Past deadline" not in page and "0 min" in page
    customs.clock.advance(hours=2, minutes=5)  # past the queue deadline (120 minutes by default)
    page = (await broker.get("/console/queue")).text
    assert f'<tr data-id="{declaration.id}"' in page and "overdue" in page
    assert "Past deadline" in page and "2 h 05 min" in page
    detail = (await broker.get(f"/console/declarations/{declaration.id}")).text
    assert element_text(detail, "overdue").startswith("Past deadline")


async def test_the_live_part_refreshes_with_the_filters_and_page_kept(customs, broker):
    await file_held(customs)
    page = (await broker.get("/console/queue?channel=mail")).text
    live_url = re.search(r'hx-get="([^"]+)"', page).group(1)
    assert live_url == "/console/queue/live?channel=mail"
    assert 'hx-trigger="every 15.0s"' in page
    newcomer = await file_held(customs)
    live = await broker.get(live_url.replace("&amp;", "&"))
    assert live.status_code == 200
    assert "<html" not in live.text and newcomer.id in row_ids(live.text)  # a fragment, with what came in since


async def test_pages_of_the_queue_follow_one_another(customs, broker):
    customs.runtime.extras["console"].page_size = 5
    held = [await file_held(customs) for _ in range(7)]
    first = (await broker.get("/console/queue")).text
    assert row_ids(first) == [d.id for d in held[:5]]
    next_url = re.search(r'href="([^"]+)" id="next-page"', first).group(1).replace("&amp;", "&")
    second = (await broker.get(next_url)).text
    assert row_ids(second) == [d.id for d in held[5:]]
    assert 'id="next-page"' not in second and 'id="first-page"' in second
    # The refresh of page two stays on page two.
    live_url = re.search(r'hx-get="([^"]+)"', second).group(1).replace("&amp;", "&")
    assert row_ids((await broker.get(live_url)).text) == [d.id for d in held[5:]]
    stale = await broker.get("/console/queue?after=not-a-cursor")
    assert stale.status_code == 200 and row_ids(stale.text) == [d.id for d in held[:5]]
    assert element_text(stale.text, "error").startswith("That page of the queue is no longer available")


def _held_mail(name: str, id_number: str):
    from decimal import Decimal

    from tests.customs.events import undervalued_line

    buyer = party(name=name, id_number=id_number)
    return mail(new_order_id(), consignee=buyer, lines=[undervalued_line()], goods_value=Decimal("5"),
                amount_paid=Decimal("5"))


async def _order_of(customs, declaration):
    from shared.contract.events import OrderAccepted
    from shared.contract.parcel import Parcel

    return OrderAccepted(order_id=declaration.order_id, merchant_code=declaration.merchant_code,
                         accepted_at=declaration.opened_at, parcel=Parcel.model_validate(declaration.parcel))

