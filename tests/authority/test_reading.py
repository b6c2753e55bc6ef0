"""Reading a filed message: the code-table checks gathered once agree with shared.ceb.codes."""

from __future__ import annotations

from services.authority.reading import _CODED, _code_checks
from shared.ceb.fields import CEB_NS


def test_the_gathered_code_tables_take_exactly_what_the_tables_take():
    checks = _code_checks()
    candidates = [f"{n:03d}" for n in range(1000)] + ["", "1", "0142", "142 ", "CNY", "KGM", "PCE"]
    for name, table_check in _CODED.items():
        assert [c for c in candidates if checks[f"{{{CEB_NS}}}{name}"](c) != table_check(c)] == [], name
