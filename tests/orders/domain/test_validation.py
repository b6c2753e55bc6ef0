"""Intake validation: a valid parcel of each channel passes, and every violation code fires where it should."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from services.orders.domain.validation import (
    DEFAULT_TIME_WINDOW,
    VIOLATION_CODES,
    TimeWindow,
    Violation,
    validate_parcel,
)
from shared.contract.parcel import Parcel
from tests.orders.domain.factories import (
    RESIDENT_ID,
    ecommerce_export_parcel,
    ecommerce_parcel,
    express_parcel,
    mail_parcel,
    order_line,
    party,
)

Body = dict[str, Any]


def violations(body: Body) -> list[Violation]:
    return validate_parcel(Parcel.model_validate(body))


def found(body: Body) -> set[tuple[str, str]]:
    return {(violation.field, violation.code) for violation in violations(body)}


def with_line(body: Body, index: int, **changes: Any) -> Body:
    body["lines"][index].update(changes)
    return body


def with_party(body: Body, role: str, **changes: Any) -> Body:
    body[role] = {**body[role], **changes}
    return body


def with_payment(body: Body, **changes: Any) -> Body:
    body["payment"].update(changes)
    return body


@pytest.mark.parametrize("factory", [mail_parcel, express_parcel, ecommerce_parcel, ecommerce_export_parcel])
def test_a_valid_parcel_of_every_channel_has_no_violations(factory: Callable[..., Body]) -> None:
    assert violations(factory()) == []


# (body, field, code): each violation code proven to fire at the field at fault.
CASES: list[tuple[Callable[[], Body], str, str]] = [
    # HS codes (DOMAIN.md §5 gcode, §8)
    (lambda: with_line(mail_parcel(), 0, hs_code="6205.20"), "lines[0].hs_code", "hs_code_not_numeric"),
    (lambda: with_line(ecommerce_parcel(), 1, hs_code="19053100"), "lines[1].hs_code", "hs_code_invalid_length"),
    (lambda: with_line(mail_parcel(), 0, hs_code="62052"), "lines[0].hs_code", "hs_code_invalid_length"),
    (lambda: with_line(mail_parcel(), 0, hs_code="62052000001"), "lines[0].hs_code", "hs_code_invalid_length"),
    (lambda: with_line(ecommerce_parcel(), 0, hs_code="7701000000"), "lines[0].hs_code", "hs_code_invalid_chapter"),
    (lambda: with_line(mail_parcel(), 0, hs_code="990100"), "lines[0].hs_code", "hs_code_invalid_chapter"),
    (lambda: with_line(mail_parcel(), 0, hs_code="000100"), "lines[0].hs_code", "hs_code_invalid_chapter"),
    # reference data
    (lambda: with_party(mail_parcel(), "consignee", country="XK"), "consignee.country", "country_unknown"),
    (lambda: with_party(mail_parcel(), "sender", country="UK"), "sender.country", "country_unknown"),
    (lambda: mail_parcel(buyer=party(country="ZZ")), "buyer.country", "country_unknown"),
    (lambda: with_line(mail_parcel(), 1, origin_country="EU"), "lines[1].origin_country", "country_unknown"),
    (lambda: express_parcel(currency="XXX"), "currency", "currency_unknown"),
    (lambda: with_line(mail_parcel(), 0, currency="RMB"), "lines[0].currency", "currency_unknown"),
    (lambda: with_payment(ecommerce_parcel(), currency="CNH"), "payment.currency", "currency_unknown"),
    (lambda: with_line(mail_parcel(), 1, currency="USD"), "lines[1].currency", "currency_mismatch"),
    (lambda: with_payment(ecommerce_parcel(), currency="USD"), "payment.currency", "currency_mismatch"),
    # lines and order arithmetic (DOMAIN.md §5, CEB311)
    (lambda: with_line(mail_parcel(), 1, line_no=3), "lines[1].line_no", "line_no_sequence"),
    (lambda: with_line(mail_parcel(), 1, line_no=1), "lines[1].line_no", "line_no_sequence"),
    (lambda: with_line(mail_parcel(), 0, total_price="91.01"), "lines[0].total_price", "line_total_mismatch"),
    (lambda: mail_parcel(goods_value="128.00"), "goods_value", "goods_value_mismatch"),
    (lambda: mail_parcel(amount_paid="128.05"), "amount_paid", "amount_paid_mismatch"),
    # insurance is taxable value (DOMAIN.md §7) but not part of CEB311's actualPaid
    (lambda: express_parcel(amount_paid="265.99"), "amount_paid", "amount_paid_mismatch"),
    (lambda: mail_parcel(discount="158.06", amount_paid="0"), "discount", "discount_exceeds_total"),
    # identities (DOMAIN.md §5 identity checks)
    (
        lambda: with_party(ecommerce_parcel(), "consignee", id_number="110105194912310021"),
        "consignee.id_number",
        "id_number_invalid",
    ),
    (
        lambda: mail_parcel(buyer=party(country="CN", id_type="uscc", id_number="91350100M000100Y44")),
        "buyer.id_number",
        "id_number_invalid",
    ),
    (
        lambda: with_payment(ecommerce_parcel(), payer_id_number="11010519491231002Y"),
        "payment.payer_id_number",
        "id_number_invalid",
    ),
    (
        lambda: with_party(mail_parcel(), "sender", id_number="91350100M000100Y4X"),
        "sender.id_number",
        "id_number_invalid",
    ),
    (lambda: mail_parcel(consignee=party(id_type="passport")), "consignee.id_number", "id_incomplete"),
    (lambda: mail_parcel(consignee=party(id_type="passport", id_number="E1234-567")), "consignee.id_number",
     "id_number_invalid"),
    # the buyer of a China-bound e-commerce parcel keys the annual quota with a person's ID (DOMAIN.md §5, §7)
    (lambda: ecommerce_parcel(buyer=party(country="CN")), "buyer.id_type", "buyer_id_required"),
    (lambda: ecommerce_parcel(buyer=party(country="CN", id_type="resident_id")), "buyer.id_number",
     "buyer_id_required"),
    (lambda: ecommerce_parcel(buyer=party(country="CN", id_type="uscc", id_number="91350100M000100Y43")),
     "buyer.id_type", "buyer_id_type_not_allowed"),
    (lambda: with_party(ecommerce_parcel(), "consignee", id_type="other", id_number="X-1"), "consignee.id_type",
     "buyer_id_type_not_allowed"),
    (lambda: with_payment(ecommerce_parcel(), payer_id_type=None), "payment.payer_id_type", "id_incomplete"),
    (
        lambda: with_party(ecommerce_parcel(), "consignee", id_type=None, id_number=None),
        "consignee.id_type",
        "consignee_id_required",
    ),
    (
        lambda: with_party(ecommerce_parcel(), "consignee", id_number=None),
        "consignee.id_number",
        "consignee_id_required",
    ),
    # channel-specific fields (DOMAIN.md §2)
    (lambda: ecommerce_parcel(trade_mode=None), "trade_mode", "trade_mode_required"),
    (lambda: express_parcel(trade_mode="9610"), "trade_mode", "trade_mode_not_allowed"),
    (lambda: ecommerce_parcel(trade_mode="9710"), "trade_mode", "trade_mode_direction"),
    (lambda: ecommerce_parcel(trade_mode="9810"), "trade_mode", "trade_mode_direction"),
    (lambda: mail_parcel(mail_product=None), "mail_product", "mail_product_required"),
    (lambda: express_parcel(mail_product="ems"), "mail_product", "mail_product_not_allowed"),
    (lambda: express_parcel(carrier=None), "carrier", "carrier_required"),
    # issue 16 finding 11: a carrier postal cannot number, a parcel no receptacle can weigh
    (lambda: express_parcel(carrier="NOPE"), "carrier", "carrier_unknown"),
    (lambda: express_parcel(gross_weight_kg=Decimal("999.901")), "gross_weight_kg", "weight_too_large"),
    (lambda: express_parcel(logistics_company="YTO"), "logistics_company", "logistics_company_not_allowed"),
    (lambda: ecommerce_parcel(logistics_company="YTO", carrier="SGE"), "carrier", "carrier_conflict"),
    # e-commerce routes: imports come into China, exports leave it
    (lambda: with_party(ecommerce_parcel(), "consignee", country="KZ"), "consignee.country",
     "import_consignee_not_in_china"),
    (lambda: with_party(ecommerce_export_parcel(), "sender", country="KZ"), "sender.country",
     "export_sender_not_in_china"),
    (lambda: with_party(ecommerce_export_parcel(), "consignee", country="CN"), "consignee.country",
     "export_consignee_in_china"),
    # the times an order carries (its payment claim)
    (lambda: with_payment(ecommerce_parcel(), paid_at="0001-01-01T00:00:00+00:00"), "payment.paid_at",
     "time_out_of_range"),
    (lambda: with_payment(ecommerce_parcel(), paid_at="2026-03-01T10:15:00"), "payment.paid_at",
     "timezone_required"),
]


@pytest.mark.parametrize(("build", "field", "code"), CASES, ids=[f"{code}@{field}" for _, field, code in CASES])
def test_violation_fires_at_the_field_at_fault(build: Callable[[], Body], field: str, code: str) -> None:
    assert (field, code) in found(build())


def test_every_violation_code_is_proven_by_a_case() -> None:
    assert {code for _, _, code in CASES} == VIOLATION_CODES


def test_a_single_fault_gives_a_single_violation() -> None:
    assert found(with_line(mail_parcel(), 0, total_price="91.01", quantity="2")) == {
        ("lines[0].total_price", "line_total_mismatch"),
        ("goods_value", "goods_value_mismatch"),  # the declared line total is what goods value must add up to
    }
    assert found(with_party(ecommerce_parcel(), "consignee", id_number="110105194912310021")) == {
        ("consignee.id_number", "id_number_invalid")
    }


@pytest.mark.parametrize("total_price", ["1.66", "1.67"])
def test_line_total_may_round_the_exact_product_either_way(total_price: str) -> None:
    line = order_line(quantity="0.500", unit_price="3.33", total_price=total_price)  # exactly 1.665
    body = mail_parcel(lines=[line], goods_value=total_price, amount_paid=f"{float(total_price) + 30:.2f}")
    assert violations(body) == []


@pytest.mark.parametrize("total_price", ["1.65", "1.68"])
def test_line_total_more_than_a_cent_off_is_a_mismatch(total_price: str) -> None:
    line = order_line(quantity="0.500", unit_price="3.33", total_price=total_price)
    body = mail_parcel(lines=[line], goods_value=total_price, amount_paid=f"{float(total_price) + 30:.2f}")
    assert found(body) == {("lines[0].total_price", "line_total_mismatch")}


def test_non_numeric_hs_code_is_not_also_reported_for_length_or_chapter() -> None:
    assert found(with_line(mail_parcel(), 0, hs_code="ABCDEF")) == {("lines[0].hs_code", "hs_code_not_numeric")}


def test_china_bound_export_needs_ten_digit_hs_codes() -> None:
    body = with_party(express_parcel(), "consignee", country="CN")
    assert ("lines[0].hs_code", "hs_code_invalid_length") not in found(body)  # 8517130000 has 10 digits
    assert ("lines[0].hs_code", "hs_code_invalid_length") in found(with_line(body, 0, hs_code="851713"))


def test_hs_codes_of_six_to_ten_digits_pass_outside_china() -> None:
    for hs_code in ("620520", "6205200", "62052000", "620520001", "6205200010"):
        assert violations(with_line(mail_parcel(), 0, hs_code=hs_code)) == []


def test_9610_fits_both_directions_and_1210_is_import_only() -> None:
    export = with_party(ecommerce_parcel(direction="export", payment=None), "consignee", country="KZ")
    assert ("trade_mode", "trade_mode_direction") not in found(export)
    assert ("trade_mode", "trade_mode_direction") in found({**export, "trade_mode": "1210"})
    assert ("trade_mode", "trade_mode_direction") not in found(ecommerce_parcel(trade_mode="1210"))


def test_consignee_id_is_not_required_outside_china_bound_ecommerce() -> None:
    assert violations(ecommerce_export_parcel(trade_mode="9710", consignee=party())) == []
    assert violations(mail_parcel(consignee=party())) == []


def test_payment_in_another_currency_reports_the_currency_not_the_amount() -> None:
    assert found(with_payment(ecommerce_parcel(), currency="USD", amount="29.00")) == {
        ("payment.currency", "currency_mismatch")
    }


@pytest.mark.parametrize("amount", ["208.01", "209.00", "0.00", "5000.00"])
def test_the_payment_claim_may_differ_from_the_amount_paid_customs_matches_them(amount: str) -> None:
    # Issue 13 finding 6: a one-cent check at intake made customs' ±1 CNY tolerance (DOMAIN.md §6) unreachable.
    assert violations(with_payment(ecommerce_parcel(), amount=amount)) == []


def test_an_ecommerce_import_without_the_buyers_id_is_refused_at_the_field_at_fault() -> None:
    assert found(with_party(ecommerce_parcel(), "consignee", id_type=None, id_number=None)) == {
        ("consignee.id_type", "consignee_id_required")}
    # A buyer apart from the consignee keys the quota: the buyer's ID is needed, the consignee's is not.
    body = with_party(ecommerce_parcel(buyer=party(country="CN", name="Wang Fang", id_type="resident_id",
                                                   id_number=RESIDENT_ID)), "consignee", id_type=None,
                      id_number=None)
    assert violations(body) == []
    assert found({**body, "buyer": party(country="CN")}) == {("buyer.id_type", "buyer_id_required")}


@pytest.mark.parametrize("number", ["E12345678", "G1234567", "EA1234567", "ea1234567", "123456789", "AB123"])
def test_a_passport_number_in_icao_format_is_a_buyers_id(number: str) -> None:
    assert violations(with_party(ecommerce_parcel(), "consignee", id_type="passport", id_number=number)) == []


@pytest.mark.parametrize("number", ["E123", "ABCDEFGHI", "E123456789", "E12 34567", "Е12345678"])
def test_a_passport_number_out_of_icao_format_is_invalid(number: str) -> None:
    assert found(with_party(ecommerce_parcel(), "consignee", id_type="passport", id_number=number)) == {
        ("consignee.id_number", "id_number_invalid")}


def test_ecommerce_exports_need_ten_digit_hs_codes_too() -> None:
    # Issue 13 finding 4: the export inventory list (CEB603) declares 10-digit codes like the import one.
    assert found(with_line(ecommerce_export_parcel(), 0, hs_code="620520")) == {
        ("lines[0].hs_code", "hs_code_invalid_length")}
    assert violations(with_line(mail_parcel(), 0, hs_code="620520")) == []  # mail abroad: 6 digits are enough


NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(("paid_at", "code"), [
    ("1999-12-31T23:59:59+00:00", "time_out_of_range"),
    ("0001-01-01T00:00:00+01:00", "time_out_of_range"),  # no UTC equivalent: no OverflowError either
    ("9999-12-31T23:59:59-01:00", "time_out_of_range"),
    ("2026-03-02T12:00:01+00:00", "time_out_of_range"),  # more than a day ahead
    ("2026-03-01T10:15:00", "timezone_required"),
    ("2000-01-01T00:00:00+00:00", None),
    ("2026-03-02T19:59:59+08:00", None),  # a day ahead, in another zone
])
def test_the_claims_paid_at_lies_in_the_window(paid_at: str, code: str | None) -> None:
    found_codes = {v.code for v in validate_parcel(Parcel.model_validate(with_payment(ecommerce_parcel(),
                                                                                     paid_at=paid_at)), now=NOW)}
    assert found_codes == ({code} if code else set())


def test_the_window_is_configurable() -> None:
    window = TimeWindow(earliest=datetime(2026, 1, 1, tzinfo=UTC), max_ahead=timedelta(hours=1))
    body = Parcel.model_validate(with_payment(ecommerce_parcel(), paid_at="2025-12-31T00:00:00+00:00"))
    assert [v.code for v in validate_parcel(body, now=NOW, window=window)] == ["time_out_of_range"]
    assert validate_parcel(body, now=NOW, window=DEFAULT_TIME_WINDOW) == []


def test_all_violations_are_returned_ordered_by_field_with_lines_in_numeric_order() -> None:
    body = mail_parcel(
        lines=[order_line(line_no=n, sku=f"SKU-{n}") for n in range(1, 12)],
        goods_value="1000.00",  # lines total 11 × 91.00 = 1001.00
        amount_paid="1030.00",
        mail_product=None,
    )
    with_line(body, 10, hs_code="7700000")
    with_line(body, 2, hs_code="0000")
    with_line(body, 2, origin_country="ZZ")
    fields = [violation.field for violation in violations(body)]
    assert fields == [
        "goods_value",
        "lines[2].hs_code",
        "lines[2].hs_code",
        "lines[2].origin_country",
        "lines[10].hs_code",
        "mail_product",
    ]
    assert [v.code for v in violations(body)][1:3] == ["hs_code_invalid_chapter", "hs_code_invalid_length"]


def test_violation_is_a_frozen_value() -> None:
    violation = Violation("carrier", "carrier_required", "an express parcel needs a carrier")
    assert violation == Violation("carrier", "carrier_required", "an express parcel needs a carrier")
    with pytest.raises(AttributeError):
        violation.code = "other"  # type: ignore[misc]


def test_messages_do_not_echo_id_numbers() -> None:
    body = with_party(ecommerce_parcel(), "consignee", id_number="110105194912310021")
    assert all("110105194912310021" not in violation.message for violation in violations(body))
