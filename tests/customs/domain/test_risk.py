"""Risk rules, lane, score and decision."""

from datetime import timedelta
from decimal import Decimal

import pytest

from services.customs.domain.policy import DEFAULT_POLICY as P
from services.customs.domain.risk import (
    PriorDeclaration,
    annual_limit,
    assess,
    decide,
    hold_for_documents,
    hs_chapter_invalid,
    hs_prohibited,
    lane,
    random_inspection_sample,
    sample_point,
    score_findings,
    split_purchases,
    undervaluation,
    vague_description,
    value_over_channel_limit,
    watchlist,
)
from shared.contract.events import Finding
from tests.customs.domain.factories import NOW, line, parcel, party, sender

D = Decimal
NO_SAMPLING = P.with_overrides(random_inspection_rate="0")


def finding(code="x", severity="low"):
    return Finding(code=code, severity=severity, message="")


def one_line(**overrides):
    return parcel(lines=[line(**overrides)])


@pytest.mark.parametrize("code", ["7701000000", "9801000000", "0001000000", "61091", "61AB100000", "61091000001"])
def test_invalid_hs_codes(code):
    [f] = hs_chapter_invalid(one_line(hs_code=code), P)
    assert f.code == "hs_chapter_invalid" and f.fields == ["lines[1].hs_code"]


@pytest.mark.parametrize("code", ["0101210000", "6109.10", "9701100000", "7601100000"])
def test_valid_hs_codes(code):
    assert hs_chapter_invalid(one_line(hs_code=code), P) == []


@pytest.mark.parametrize("code", ["9301100000", "9306210000", "3604100000", "3602000010", "1211300000"])
def test_prohibited_goods(code):
    [f] = hs_prohibited(one_line(hs_code=code), P)
    assert f.severity == "prohibited" and f.code == "hs_prohibited"


@pytest.mark.parametrize("code", ["9201100000", "9401100000", "3605000000", "1211200000", "2939300000"])
def test_neighbours_of_prohibited_goods_pass(code):
    assert hs_prohibited(one_line(hs_code=code), P) == []


def test_mail_personal_article_limit_1000_and_800_from_hk_mo_tw():
    def mail(value, country="KZ", qty=1):
        items = [line(quantity=D(qty), unit_price=(value / qty).quantize(D("0.01")), total_price=value)]
        return parcel(channel="mail", mail_product="parcel", sender=sender(country=country), lines=items,
                      goods_value=value, amount_paid=D("0"))

    assert value_over_channel_limit(mail(D("1000")), P) == []
    [single] = value_over_channel_limit(mail(D("1000.01")), P)
    assert single.severity == "medium"  # one indivisible article may still clear after review
    assert value_over_channel_limit(mail(D("1000.01"), qty=2), P)[0].severity == "high"
    assert value_over_channel_limit(mail(D("800"), country="HK"), P) == []
    assert value_over_channel_limit(mail(D("800.01"), country="HK"), P)[0].code == "value_over_channel_limit"
    assert value_over_channel_limit(mail(D("800.01"), country="TW"), P) != []


def test_ecommerce_transaction_limit_on_taxable_value():
    within = parcel(goods_value=D("4900"), freight=D("100"), amount_paid=D("5000"))
    assert value_over_channel_limit(within, P) == []
    over = parcel(goods_value=D("4900"), freight=D("100.01"), amount_paid=D("5000.01"),
                  lines=[line(quantity=D("2"), total_price=D("4900"), unit_price=D("2450"))])
    assert value_over_channel_limit(over, P)[0].severity == "high"
    single = parcel(goods_value=D("4900"), freight=D("100.01"), amount_paid=D("5000.01"))
    assert value_over_channel_limit(single, P)[0].severity == "info"  # allowed at general-trade rates


def test_no_channel_limit_for_express_or_exports():
    assert value_over_channel_limit(parcel(channel="express", goods_value=D("90000"), amount_paid=D("0")), P) == []
    assert value_over_channel_limit(parcel(direction="export", goods_value=D("90000"), amount_paid=D("0")), P) == []


def test_annual_limit_26000_inclusive():
    assert annual_limit(parcel(), annual_total_cny=D("25900"), policy=P) == []
    [f] = annual_limit(parcel(), annual_total_cny=D("25900.01"), policy=P)
    assert f.code == "annual_limit_exceeded" and f.severity == "high"


def test_undervaluation_below_30_percent_of_reference():
    # T-shirts (6109) reference 60 CNY: 30% is 18.00.
    assert undervaluation(one_line(unit_price=D("18"), total_price=D("18")), P) == []
    [f] = undervaluation(one_line(unit_price=D("17.99"), total_price=D("17.99")), P)
    assert f.code == "undervaluation" and f.fields == ["lines[1].unit_price"]
    # Per unit: 10 T-shirts at 150 CNY total is 15 each.
    assert undervaluation(one_line(quantity=D("10"), unit_price=D("15"), total_price=D("150")), P) != []
    # Converted first: 3 USD = 21.30 CNY is fine.
    assert undervaluation(one_line(unit_price=D("3"), total_price=D("3"), currency="USD"), P) == []
    assert undervaluation(one_line(hs_code="9999990000", unit_price=D("0.01"), total_price=D("0.01")), P) == []


def test_undervaluation_per_kg_for_food():
    # Honey (0409) reference 60 CNY/kg: 2 kg for 36 CNY is 18/kg (30%), 35.98 is under.
    honey = {"hs_code": "0409000000", "name": "Mountain honey", "net_weight_kg": D("2")}
    assert undervaluation(one_line(**honey, unit_price=D("36"), total_price=D("36")), P) == []
    assert undervaluation(one_line(**honey, unit_price=D("35.98"), total_price=D("35.98")), P) != []


@pytest.mark.parametrize("name", ["Gift", "goods", "Spare parts", "SAMPLE ITEMS", "礼物", "123", "misc. stuff"])
def test_vague_descriptions(name):
    [f] = vague_description(one_line(name=name), P)
    assert f.code == "vague_description" and f.severity == "medium"


@pytest.mark.parametrize("name", ["Cotton T-shirt", "Gift box of dried apricots", "Phone accessories: USB cable"])
def test_specific_descriptions(name):
    assert vague_description(one_line(name=name), P) == []


def test_split_purchases_within_window():
    def split(value, recent):
        return split_purchases(channel="ecommerce", value_cny=D(value), recent=recent, now=NOW, policy=P)

    hours = lambda h: NOW - timedelta(hours=h)
    assert split("2500", [PriorDeclaration(hours(1), D("2500"))]) == []  # 5000 is not over
    [f] = split("2500", [PriorDeclaration(hours(1), D("2500.01"))])
    assert f.code == "split_purchases" and f.severity == "high"
    assert split("2500", [(hours(24), D("2600"))]) != []  # window edge inclusive
    assert split("2500", [(hours(24) - timedelta(seconds=1), D("2600"))]) == []  # outside the window
    assert split("2500", [(hours(1), D("5000.01"))]) == []  # one parcel over the limit is not splitting
    assert split("1000", [(hours(2), D("2000")), (hours(3), D("2000.01"))]) != []  # three together
    mail = split_purchases(channel="mail", value_cny=D("600"), recent=[(hours(1), D("500"))], now=NOW, policy=P)
    assert mail != []  # mail's threshold is the 1,000 CNY personal-article limit


def test_watchlist_by_name_or_id_number():
    policy = P.with_overrides(watchlist_names=["aynur tursun"], watchlist_id_numbers=["110101199003070011"])
    [f] = watchlist(parcel(), policy)
    assert f.fields == ["consignee.name"] and f.severity == "high"
    buyer = party(name="Other Person", id_number="110101199003070011")
    assert watchlist(parcel(consignee=party(name="Someone"), buyer=buyer), policy)[0].fields == ["buyer.id_number"]
    assert watchlist(parcel(consignee=party(name="Someone")), policy) == []


def test_random_sampling_is_deterministic_and_near_the_rate():
    two_percent = P.with_overrides(random_inspection_rate="0.02")
    assert random_inspection_sample("dec-1", two_percent) == random_inspection_sample("dec-1", two_percent)
    assert 0 <= sample_point("dec-1") < 1
    sampled = sum(bool(random_inspection_sample(f"dec-{i}", two_percent)) for i in range(10_000))
    assert 150 <= sampled <= 250  # 2% of 10,000
    assert random_inspection_sample("dec-1", P.with_overrides(random_inspection_rate="1")) != []
    assert random_inspection_sample("dec-1", NO_SAMPLING) == []
    assert P.random_inspection_rate == 0  # off by default: the authority samples for inspection itself


def test_green_lane_for_agricultural_goods_from_kz_kg_tj():
    dried = {"hs_code": "0813100000", "name": "Dried apricots"}
    assert lane(parcel(lines=[line(**dried, origin_country="KZ")]), P) == "green"
    assert lane(parcel(lines=[line(**dried, origin_country="TJ"), line(line_no=2, hs_code="2401100000",
                                                                        origin_country="KG")]), P) == "green"
    assert lane(parcel(lines=[line(**dried, origin_country="UZ")]), P) == "standard"
    assert lane(parcel(lines=[line(hs_code="2501000000", origin_country="KZ")]), P) == "standard"  # chapter 25
    assert lane(parcel(lines=[line(**dried), line(line_no=2, origin_country="KZ")]), P) == "standard"  # T-shirt


def test_score_is_the_sum_of_severity_weights():
    assert score_findings([finding(severity="low"), finding(severity="high"), finding(severity="info")], P) == 60


def test_decide():
    assert decide(0, [], P) == "release"
    assert decide(24, [finding()], P) == "release"
    assert decide(25, [finding(severity="medium")], P) == "manual_review"
    assert decide(99, [], P) == "manual_review"
    assert decide(100, [], P) == "inspection"
    assert decide(0, [finding("random_inspection_sample", "info")], P) == "inspection"
    assert decide(0, [finding("hs_chapter_invalid", "high")], P) == "reject"
    assert decide(100, [finding("hs_prohibited", "prohibited"), finding("random_inspection_sample", "info")],
                  P) == "reject"


def test_assess_a_clean_parcel_is_released():
    result = assess(parcel(), declaration_id="dec-1", policy=NO_SAMPLING, now=NOW)
    assert (result.findings, result.score, result.decision, result.lane) == ((), 0, "release", "standard")


def test_assess_chapter_93_is_rejected():
    result = assess(one_line(hs_code="9302000000", name="Pistol"), declaration_id="d", policy=NO_SAMPLING, now=NOW)
    assert result.decision == "reject" and [f.code for f in result.findings] == ["hs_prohibited"]


def test_assess_green_lane_and_extra_findings():
    honey = parcel(lines=[line(hs_code="0409000000", name="Honey", unit_price=D("200"), total_price=D("200"),
                               net_weight_kg=D("2"))], goods_value=D("200"), amount_paid=D("200"))
    extra = [finding("consignee_mismatch", "high")]
    result = assess(honey, declaration_id="d", policy=NO_SAMPLING, now=NOW, extra_findings=extra)
    assert result.lane == "green" and result.decision == "manual_review" and result.score == 50


def test_assess_split_purchases_use_the_transaction_value():
    recent = [(NOW - timedelta(hours=2), D("4950"))]
    p = parcel(goods_value=D("40"), freight=D("10.01"), amount_paid=D("50.01"))  # 4950 + 50.01 > 5000
    result = assess(p, declaration_id="d", policy=NO_SAMPLING, now=NOW, recent=recent)
    assert [f.code for f in result.findings] == ["split_purchases"] and result.decision == "manual_review"


def test_document_mismatches_alone_hold_for_review_not_inspection():
    mismatches = [finding("consignee_mismatch", "high"), finding("amount_mismatch", "high")]
    result = assess(parcel(), declaration_id="d", policy=NO_SAMPLING, now=NOW, extra_findings=mismatches)
    assert result.decision == "inspection" and result.score == 100  # two high findings reach the inspection score
    assert hold_for_documents(result, mismatches, NO_SAMPLING).decision == "manual_review"


def test_document_mismatches_keep_an_inspection_the_other_findings_call_for():
    mismatches = [finding("consignee_mismatch", "high")]
    sampled = assess(parcel(), declaration_id="d", policy=P.with_overrides(random_inspection_rate="1"), now=NOW,
                     extra_findings=mismatches)
    assert hold_for_documents(sampled, mismatches, P).decision == "inspection"
    clean = assess(parcel(), declaration_id="d", policy=NO_SAMPLING, now=NOW)
    assert hold_for_documents(clean, [], NO_SAMPLING) is clean


def test_assess_a_vague_description_alone_goes_to_manual_review():
    result = assess(one_line(name="Gift"), declaration_id="dec-vague", policy=NO_SAMPLING, now=NOW)
    assert [f.code for f in result.findings] == ["vague_description"]
    assert result.decision == "manual_review"
