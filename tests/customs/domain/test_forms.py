"""Form selection per channel (DOMAIN.md §2): CN22/CN23, express A–D, inventory list."""

from decimal import Decimal

import pytest

from services.customs.domain.errors import UnknownCurrency
from services.customs.domain.forms import FormSelection, express_category, mail_form, select_form
from services.customs.domain.policy import DEFAULT_POLICY as P
from tests.customs.domain.factories import line, parcel

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
    assert chosen == FormSelection("CN22", D("710.00"), D("73.96"), None, ())
    over = select_form(parcel(channel="mail", mail_product="letter", currency="SDR", goods_value=D("300.01"),
                              amount_paid=D("0")), P)
    assert over.form == "CN23" and over.value_sdr == D("300.01")


def documents_parcel(**overrides):
    values = dict(channel="express", trade_mode=None, contents_type="documents",
                  lines=[line(name="Signed contract", hs_code="4911998000", unit_price=D("10"), total_price=D("10"))],
                  goods_value=D("10"), amount_paid=D("10"))
    values.update(overrides)
    return parcel(**values)


def test_documents_of_no_commercial_value_are_category_a():
    chosen = select_form(documents_parcel(), P)
    assert chosen.form == "express_A" and chosen.findings == ()
    assert select_form(documents_parcel(lines=[line(hs_code="4901990000", unit_price=D("50"), total_price=D("50"))],
                                        goods_value=D("50"), amount_paid=D("50")), P).form == "express_A"


def test_phones_declared_as_documents_are_reclassed_by_value_with_a_finding():
    """Issue 13 finding 1: 50,000 CNY of phones (HS 8517130000) declared as documents were category A, taxed 0."""
    phones = line(name="Mobile phone", hs_code="8517130000", quantity=D("10"), unit_price=D("5000"),
                  total_price=D("50000"))
    chosen = select_form(documents_parcel(lines=[phones], goods_value=D("50000"), amount_paid=D("50000")), P)
    assert chosen.form == "express_D"
    [finding] = chosen.findings
    assert finding.code == "category_a_reclassified" and finding.severity == "medium"
    assert set(finding.fields) == {"goods_value", "lines[1].hs_code"}
    assert "express_D" in finding.message and "8517130000" in finding.message


def test_documents_over_the_ceiling_or_outside_chapter_49_are_goods():
    over = select_form(documents_parcel(lines=[line(hs_code="4911998000", unit_price=D("51"), total_price=D("51"))],
                                        goods_value=D("51"), amount_paid=D("51")), P)
    assert over.form == "express_C" and over.findings[0].fields == ["goods_value"]
    cheap_goods = select_form(documents_parcel(lines=[line(hs_code="6109100000", unit_price=D("10"),
                                                           total_price=D("10"))]), P)
    assert cheap_goods.form == "express_C" and cheap_goods.findings[0].fields == ["lines[1].hs_code"]
    generous = P.with_overrides(express_a_max_value_cny="100")
    assert select_form(documents_parcel(lines=[line(hs_code="4911998000", unit_price=D("51"), total_price=D("51"))],
                                        goods_value=D("51"), amount_paid=D("51")), generous).form == "express_A"


@pytest.mark.parametrize("contents", ["gift", "returned_goods"])
def test_express_b_personal_articles_up_to_1000_inclusive(contents):
    assert express_category(contents_type=contents, value_cny=D("1000.00"), policy=P) == "express_B"
    # Over the B limit a personal article clears as goods.
    assert express_category(contents_type=contents, value_cny=D("1000.01"), policy=P) == "express_C"


@pytest.mark.parametrize("contents", ["merchandise", "commercial_sample", "other"])
def test_express_goods_are_never_b(contents):
    # "other" sold by a merchant is goods: category B (personal articles, tax ≤ 50 CNY waived) is gifts and returns.
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
