"""HS code helpers (DOMAIN.md §8)."""

from services.customs.domain.hs import hs_chapter, hs_heading, is_well_formed, normalize_hs


def test_separators_are_ignored():
    assert normalize_hs("6109.10.00 00") == "6109100000"
    assert hs_chapter("0409.00") == "04" and hs_heading("0409.00") == "0409"


def test_well_formed_is_six_to_ten_digits():
    assert is_well_formed("610910") and is_well_formed("6109100000")
    assert not is_well_formed("61091") and not is_well_formed("61091000001")
    assert not is_well_formed("6109AB") and not is_well_formed("６１０９１０")  # full-width digits
