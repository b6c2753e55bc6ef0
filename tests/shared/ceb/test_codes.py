"""The code tables' predicates: what a received message's coded fields are checked against."""

from __future__ import annotations

from shared.ceb.codes import countries, currencies, is_country_code, is_currency_code


def test_a_received_code_is_known_exactly_when_the_table_has_it():
    candidates = [f"{n:03d}" for n in range(1000)] + ["", "1", "0142", "142 ", "CNY"]
    assert {c for c in candidates if is_currency_code(c)} == set(currencies().values())
    assert {c for c in candidates if is_country_code(c)} == set(countries().values())
    assert is_currency_code("142") and is_country_code("142") and not is_currency_code("CNY")
