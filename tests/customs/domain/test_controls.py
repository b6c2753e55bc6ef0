"""Pre-filing controls (domain.controls): what stops a filing whoever asks, and what a broker may weigh."""

from decimal import Decimal

from services.customs.domain.controls import blocking, buyer_identity, controls, inventory_hs_codes
from services.customs.domain.policy import DEFAULT_POLICY as P
from shared.contract.events import Finding
from tests.customs.domain.factories import line, parcel, party

D = Decimal


def test_an_ecommerce_import_needs_the_buyers_identity():
    """Issue 13 finding 3: a buyer without an ID was keyed by name + phone (three phones → three quotas)."""
    assert buyer_identity(parcel(), P) == []
    [missing] = buyer_identity(parcel(consignee=party(id_type=None, id_number=None)), P)
    assert missing.code == "buyer_id_missing" and missing.severity == "high"
    assert missing.fields == ["consignee.id_type", "consignee.id_number"]
    [explicit] = buyer_identity(parcel(buyer=party(id_type="other", id_number="X1")), P)
    assert explicit.code == "buyer_id_missing" and explicit.fields[0] == "buyer.id_type"


def test_the_buyers_id_number_must_be_valid_for_its_type():
    [bad] = buyer_identity(parcel(consignee=party(id_number="110105194912310021")), P)  # wrong check character
    assert bad.code == "buyer_id_invalid" and bad.fields == ["consignee.id_number"]
    assert buyer_identity(parcel(consignee=party(id_type="passport", id_number="E12345678")), P) == []
    assert buyer_identity(parcel(consignee=party(id_type="passport", id_number="E1")), P)[0].code == "buyer_id_invalid"


def test_exports_and_other_channels_need_no_buyer_identity():
    no_id = party(id_type=None, id_number=None)
    assert buyer_identity(parcel(direction="export", trade_mode="9610", consignee=no_id), P) == []
    assert buyer_identity(parcel(channel="mail", trade_mode=None, consignee=no_id), P) == []


def test_inventory_lists_need_10_digit_hs_codes_both_ways():
    """Issue 13 finding 4: e-commerce exports accepted 6-digit HS codes."""
    six = line(hs_code="610910")
    for direction in ("import", "export"):
        [finding] = inventory_hs_codes(parcel(direction=direction, lines=[six]), [six], P)
        assert finding.code == "hs_code_not_10_digits" and finding.fields == ["lines[1].hs_code"]
    assert inventory_hs_codes(parcel(channel="mail", trade_mode=None, lines=[six]), [six], P) == []
    assert controls(parcel(), P) == []


def test_blocking_findings_stop_a_filing_risk_findings_do_not():
    high = Finding(code="amount_mismatch", severity="high", message="m")
    single_item = Finding(code="value_over_channel_limit", severity="info", message="m")
    vague = Finding(code="vague_description", severity="medium", message="m")
    prohibited = Finding(code="hs_prohibited", severity="prohibited", message="m")
    assert blocking([high, single_item, vague, prohibited]) == [high, prohibited]
