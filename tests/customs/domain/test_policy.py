"""CustomsPolicy: DOMAIN.md defaults, and overrides from plain settings values."""

from decimal import Decimal

import pytest

from services.customs.domain.errors import InvalidPolicy
from services.customs.domain.policy import DEFAULT_POLICY, CustomsPolicy, ReferencePrice


def test_defaults_are_domain_md_figures():
    p = CustomsPolicy()
    assert p.cn22_limit_sdr == Decimal("300")  # §2
    assert (p.personal_article_limit_cny, p.personal_article_limit_hmt_cny) == (Decimal("1000"), Decimal("800"))
    assert (p.express_b_limit_cny, p.express_c_limit_cny) == (Decimal("1000"), Decimal("5000"))
    assert p.ecommerce_transaction_limit_cny == Decimal("5000")  # §7
    assert p.ecommerce_annual_limit_cny == Decimal("26000")
    assert p.tax_waiver_cny == Decimal("50")
    assert (p.vat_rate, p.composite_tax_factor) == (Decimal("0.13"), Decimal("0.70"))
    assert p.match_tolerance_cny == Decimal("1")  # §6
    assert p.green_channel_countries == {"KZ", "KG", "TJ"}  # §1
    assert "93" in p.prohibited_chapters  # §8


def test_hs_chapter_tables():
    p = DEFAULT_POLICY
    assert "01" in p.valid_hs_chapters and "97" in p.valid_hs_chapters
    assert "77" not in p.valid_hs_chapters and "00" not in p.valid_hs_chapters and "98" not in p.valid_hs_chapters
    assert len(p.valid_hs_chapters) == 96
    assert p.green_channel_chapters == {f"{n:02d}" for n in range(1, 25)}


def test_plain_values_are_coerced():
    p = CustomsPolicy.from_mapping({
        "vat_rate": 0.09, "cn22_limit_sdr": "250", "watchlist_id_numbers": ["11010519491231002x"],
        "rates_to_cny": {"usd": "7.2", "XDR": 9.5}, "reference_prices": {"6109": {"price_cny": 80}, "0409": [70, "kg"]},
        "split_window_hours": "48",
    })
    assert p.vat_rate == Decimal("0.09")  # via str: no binary float residue
    assert p.cn22_limit_sdr == Decimal("250")
    assert p.watchlist_id_numbers == {"11010519491231002X"}
    assert dict(p.rates_to_cny) == {"USD": Decimal("7.2"), "XDR": Decimal("9.5")}
    assert p.reference_prices["6109"] == ReferencePrice(Decimal("80"), "unit")
    assert p.reference_prices["0409"] == ReferencePrice(Decimal("70"), "kg")
    assert p.split_window_hours == 48


def test_a_single_string_is_one_member_not_its_letters():
    assert CustomsPolicy(watchlist_names="Bad Actor").watchlist_names == {"Bad Actor"}


def test_unknown_setting_and_bad_value_raise_invalid_policy():
    with pytest.raises(InvalidPolicy):
        CustomsPolicy.from_mapping({"vat": "0.13"})
    with pytest.raises(InvalidPolicy):
        CustomsPolicy.from_mapping({"vat_rate": "thirteen"})
    with pytest.raises(InvalidPolicy):
        CustomsPolicy.from_mapping({"inspection_score": "high"})


def test_policy_is_frozen_and_overrides_copy():
    p = CustomsPolicy()
    with pytest.raises(AttributeError):
        p.vat_rate = Decimal("0.2")  # type: ignore[misc]
    with pytest.raises(TypeError):
        p.rates_to_cny["USD"] = Decimal("1")  # type: ignore[index]
    q = p.with_overrides(random_inspection_rate="0.5")
    assert q.random_inspection_rate == Decimal("0.5") and p.random_inspection_rate == Decimal("0")
