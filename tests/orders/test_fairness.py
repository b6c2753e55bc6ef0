"""Per-merchant fairness: one merchant's flood answers that merchant 429 with Retry-After, never the others — by
rate (token bucket per merchant) and by share of the backlog."""

from __future__ import annotations

import itertools

import pytest
from nats.js.api import AckPolicy, ConsumerConfig

from services.orders.fairness import IntakeLedger, TokenBucket, backlog_shares
from shared.contract.subjects import stream_name
from tests.orders.domain.factories import mail_parcel

# ── the rules ──────────────────────────────────────────────────────────────────


def test_a_bucket_gives_its_burst_then_its_rate_and_says_how_long_to_wait():
    bucket = TokenBucket.full(rate_per_s=2, burst=5, now=0)
    assert [bucket.take(1, now=0) for _ in range(5)] == [0, 0, 0, 0, 0]
    assert bucket.take(1, now=0) == pytest.approx(0.5)
    assert bucket.take(1, now=0.5) == 0  # refilled one token
    assert bucket.take(2, now=0.5) == pytest.approx(1.0)


def test_a_batch_larger_than_the_burst_passes_on_a_full_bucket_and_leaves_it_in_debt():
    bucket = TokenBucket.full(rate_per_s=10, burst=100, now=0)
    assert bucket.take(1000, now=0) == 0
    assert bucket.take(1, now=0) == pytest.approx(90.1)  # 900 in debt, +1 needed, at 10/s


def test_the_ledger_keeps_the_most_recent_orders_by_merchant():
    ledger = IntakeLedger(capacity=100)
    for merchant, count in (("A", 50), ("B", 5), ("A", 50), ("A", 10), ("C", 1)):
        ledger.record(merchant, count)
    assert ledger.recent(11) == {"C": 1, "A": 10}
    assert ledger.recent(1000) == {"A": 110, "B": 5, "C": 1}
    ledger.record("D", 200)  # older runs give way once the newer ones hold the capacity
    assert ledger.recent(1000) == {"D": 200} and ledger.total == 200


def test_a_flood_holds_most_of_the_backlog_and_exceeds_its_share_the_steady_one_does_not():
    shares = backlog_shares(900, {"FLOOD": 950, "STEADY": 50}, {}, max_backlog=1000)
    assert shares["FLOOD"].exceeded and not shares["STEADY"].exceeded
    assert shares["STEADY"].backlog == pytest.approx(45) and shares["STEADY"].limit == 500
    alone = backlog_shares(900, {"FLOOD": 1000}, {}, max_backlog=1000)
    assert not alone["FLOOD"].exceeded  # alone, a merchant may fill the whole bound
    weighted = backlog_shares(900, {"A": 500, "B": 500}, {"A": 3.0}, max_backlog=1000)
    assert weighted["A"].limit == 750 and not weighted["A"].exceeded and weighted["B"].exceeded


# ── through the API ───────────────────────────────────────────────────────────

_numbers = itertools.count()


async def post(orders, headers) -> int:
    body = mail_parcel(merchant_order_no=f"F-{next(_numbers)}")
    response = await orders.post_order(body, headers=headers)
    return response


async def test_a_merchant_over_its_rate_gets_429_with_retry_after_and_another_merchant_does_not(start_orders):
    orders = await start_orders(merchant_limits={"M-KASHGAR": {"rate_per_s": 0.2, "burst": 3}})
    flood = [await post(orders, orders.merchant) for _ in range(8)]
    assert [r.status_code for r in flood[:3]] == [201, 201, 201]
    refused = [r for r in flood if r.status_code == 429]
    assert len(refused) == 5
    assert refused[0].json()["code"] == "rate_limited" and int(refused[0].headers["Retry-After"]) >= 1
    steady = [await post(orders, orders.other_merchant) for _ in range(8)]
    assert [r.status_code for r in steady] == [201] * 8


async def test_a_flood_over_its_share_of_the_backlog_is_refused_while_another_merchant_goes_on(start_orders):
    orders = await start_orders(max_backlog=16, backlog_hard_factor=10, backlog_retry_after_s=2)
    # Downstream consumers that exist but never keep up: every order leaves two events waiting.
    js = orders.runtime.bus.js
    await orders.runtime.bus.wait_ready()
    for name in ("customs", "postal"):
        await js.add_consumer(stream_name("orders"), config=ConsumerConfig(durable_name=name,
                                                                           ack_policy=AckPolicy.EXPLICIT))
    monitor = orders.runtime.extras["backlog"]
    flood_refused = None
    for _ in range(60):
        response = await post(orders, orders.merchant)
        await monitor.measure()
        if response.status_code == 429:
            flood_refused = response
            break
    assert flood_refused is not None, "the flood was never held back"
    assert flood_refused.json()["code"] == "backlog_full" and flood_refused.headers["Retry-After"] == "2"

    for _ in range(4):  # the other merchant, at its steady pace, is not the one that made the backlog
        response = await post(orders, orders.other_merchant)
        assert response.status_code == 201, response.text
        await monitor.measure()
    again = await post(orders, orders.merchant)
    assert again.status_code == 429
    assert again.json()["merchant_backlog"] > again.json()["merchant_share"]
