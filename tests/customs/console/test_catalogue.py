"""One catalogue for every string: both languages for every key, and no key the pages, the action registry or the
status model name is missing from it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import pytest

from services.customs import queue
from services.customs.console import i18n
from services.customs.console.actions import ACTIONS, REVEAL_REASONS
from services.customs.console.documents import ROWS
from services.customs.console.pages import PARTY_ROLES
from services.customs.domain.forms import Form
from services.customs.domain.status import STATUSES
from services.customs.domain.tax import Regime
from shared.contract.events import Finding, Lane
from shared.contract.parcel import Channel, Direction

TEMPLATES = Path(i18n.__file__).with_name("templates")
# The error codes the console's own steps raise or show (the service's are the brokers' use cases').
CONSOLE_ERRORS = ("api_key_invalid", "role_not_allowed", "csrf_invalid", "claim_required", "declaration_claimed",
                  "declaration_final", "transition_not_allowed", "concurrent_update", "declaration_not_found",
                  "action_unknown", "page_not_found", "field_required", "value_not_allowed", "format_invalid",
                  "too_large", "too_long", "cursor_invalid", "internal_error", "database_unavailable")


def test_every_entry_has_english_and_chinese():
    for key, entry in i18n.catalogue().items():
        assert set(entry) == {"en", "zh"}, key
        assert all(text.strip() for text in entry.values()), key
        # The same parameters in both languages, so neither shows a "?".
        names = [set(re.findall(r"{(\w+)", entry[lang])) for lang in ("en", "zh")]
        assert names[0] == names[1], key


def test_every_literal_key_in_the_templates_is_in_the_catalogue():
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(re.findall(r"""\bt\(\s*'([a-z0-9_.]+)'\s*[,)]""", template.read_text()))
    assert len(used) > 100
    assert sorted(used - set(i18n.catalogue())) == []


def expected_keys() -> set[str]:
    keys = {f"status.{s}" for s in STATUSES} | {f"channel.{c}" for c in get_args(Channel)}
    keys |= {f"direction.{d}" for d in get_args(Direction)} | {f"lane.{lane}" for lane in get_args(Lane)}
    keys |= {f"form.{f}" for f in get_args(Form)} | {f"tax.regime.{r}" for r in get_args(Regime)}
    keys |= {f"severity.{s}" for s in get_args(Finding.model_fields["severity"].annotation)}
    keys |= {f"compare.{row.key}" for row in ROWS} | {f"party.{role}" for role in PARTY_ROLES}
    keys |= {f"document.{kind}" for kind in ("order", "payment", "waybill")} | {f"age.{a}" for a in queue.AGES}
    keys |= {f"language.{lang}" for lang in i18n.LANGUAGES} | {"message.out", "message.in"}
    keys |= {f"reason.{code}" for code in REVEAL_REASONS} | {f"error.{code}" for code in CONSOLE_ERRORS}
    keys |= {"action.reveal.done"}
    for action in ACTIONS.values():
        keys |= {f"action.{action.name}.{part}" for part in ("label", "help", "submit", "done")}
        for field in action.fields:
            if field.kind == "reason":
                keys |= {f"reason.{code}" for code in field.options}
            elif field.kind == "choice":
                keys |= {f"option.{field.name}.{value}" for value in field.options}
            if field.kind != "lines":
                keys.add(f"field.{field.name}")
    return keys


def test_the_registry_and_the_status_model_have_their_labels():
    assert sorted(expected_keys() - set(i18n.catalogue())) == []


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_durations_read_naturally(lang):
    from datetime import timedelta

    text = {"en": ["3 min", "2 h 05 min", "4 d 3 h"], "zh": ["3分钟", "2小时05分", "4天3小时"]}[lang]
    spans = [timedelta(minutes=3, seconds=20), timedelta(hours=2, minutes=5), timedelta(days=4, hours=3, minutes=9)]
    assert [i18n.duration(lang, span) for span in spans] == text


def test_the_language_is_the_brokers_choice_then_the_browsers():
    assert i18n.choose_language("zh", "en-GB,en") == "zh"
    assert i18n.choose_language(None, "zh-CN,zh;q=0.9,en;q=0.8") == "zh"
    assert i18n.choose_language("fr", "de-DE,en;q=0.5") == "en"
    assert i18n.choose_language(None, None) == "en"


def test_a_missing_label_falls_back_to_english_then_the_key():
    assert i18n.text("xx", "nav.queue") == "Queue"
    assert i18n.text("zh", "no.such.key") == "no.such.key"
    assert i18n.text("en", "claim.held_by_other", broker="B") == "Claimed by B until ?."
