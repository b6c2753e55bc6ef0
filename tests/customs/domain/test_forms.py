"""Form selection per channel (DOMAIN.md §2): CN22/CN23, express A–D, inventory list."""

from decimal import Decimal

import pytest

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.forms import FormSelection, express_category, mail_form, select_form
from services.customs.domain.policy import DEFAULT_POLICY as P
from tests.customs.domain.factories import parcel

D = Decimal


@pytest.mark.parametrize("product", ["letter", "registered_letter", "tracked_letter"])
def test_cn22_for_letter_post_up_to_300_sdr_inclusive(product):
    # 300 SDR × 9.60 = 2,880.00 CNY: the boundary cent is CN22, the next one CN23.
    assert mail_form(mail_product=product, value_cny=D("2880.00"), policy=P) == "CN22"
    assert mail_form(mail_product=product, value_cny=D("2880.01"), policy=P) == "CN23"


@pytest.mark.parametrize("product", ["parcel", "ems", "insured", None])
def test_parcels_are_always_cn23(product):
    assert mail_form(mail_product=product, value_cny=D("1"), policy=P) == "CN23"


def test_select_form_for_mail_reports_value_in_cny_and_sdr():
    chosen = select_form(parcel(channel="mail", mail_product="letter", currency="USD", goods_value=D("100"),
                                amount_paid=D("100")), P)
    assert chosen == FormSelection("CN22", D("710.00"), D("73.96"), None)
    over = select_form(parcel(channel="mail", mail_product="letter", currency="SDR", goods_value=D("300.01"),
                              amount_paid=D("0")), P)
    assert over.form == "CN23" and over.value_sdr == D("300.01")


def test_express_documents_are_category_a_whatever_the_value():
    assert express_category(contents_type="documents", value_cny=D("0"), policy=P) == "express_A"
    assert express_category(contents_type="documents", value_cny=D("9000"), policy=P) == "express_A"


@pytest.mark.parametrize("contents", ["gift", "returned_goods", "other"])
def test_express_b_personal_articles_up_to_1000_inclusive(contents):
    assert express_category(contents_type=contents, value_cny=D("1000.00"), policy=P) == "express_B"
    # Over the B limit a personal article clears as goods.
    assert express_category(contents_type=contents, value_cny=D("1000.01"), policy=P) == "express_C"


@pytest.mark.parametrize("contents", ["merchandise", "commercial_sample"])
def test_express_goods_are_never_b(contents):
    assert express_category(contents_type=contents, value_cny=D("10"), policy=P) == "express_C"


def test_express_c_up_to_5000_inclusive_then_d():
    assert express_category(contents_type="merchandise", value_cny=D("5000.00"), policy=P) == "express_C"
    assert express_category(contents_type="merchandise", value_cny=D("5000.01"), policy=P) == "express_D"
    assert express_category(contents_type="gift", value_cny=D("5000.01"), policy=P) == "express_D"


def test_express_limits_follow_policy():
    policy = P.with_overrides(express_b_limit_cny="500")
    assert express_category(contents_type="gift", value_cny=D("600"), policy=policy) == "express_C"


def test_ecommerce_gets_an_inventory_list_with_its_trade_mode():
    assert select_form(parcel(trade_mode="1210"), P).trade_mode == "1210"
    chosen = select_form(parcel(trade_mode=None), P)
    assert chosen.form == "inventory_list" and chosen.trade_mode == "9610"  # B2C direct by default


def test_express_select_form_uses_goods_value_without_freight():
    chosen = select_form(parcel(channel="express", trade_mode=None, contents_type="merchandise",
                                goods_value=D("5000"), freight=D("200"), amount_paid=D("5200")), P)
    assert chosen.form == "express_C" and chosen.value_cny == D("5000.00")


def test_unknown_currency_propagates():
    with pytest.raises(UnknownCurrency):
        select_form(parcel(currency="ZZZ"), P)
