"""Chinese and English labels: every string the console shows comes from catalogue.yaml, one entry per key
with both languages (tests/customs/console/test_catalogue.py keeps it complete)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

import structlog
import yaml

CATALOGUE_FILE = Path(__file__).with_name("catalogue.yaml")
LANGUAGES = ("en", "zh")
DEFAULT_LANGUAGE = "en"
LANGUAGE_COOKIE = "silkgate_console_lang"

log = structlog.get_logger()


@cache
def catalogue() -> dict[str, dict[str, str]]:
    """key → {"en": …, "zh": …}, read once."""
    entries = yaml.safe_load(CATALOGUE_FILE.read_text(encoding="utf-8"))
    return {str(key): {lang: str(text) for lang, text in value.items()} for key, value in entries.items()}


def text(lang: str, key: str, **params: Any) -> str:
    """The label `key` in `lang` (English, then the key itself, if a translation is missing: never an error page)."""
    entry = catalogue().get(key)
    if entry is None or lang not in entry:
        log.warning("console.label_missing", key=key, lang=lang)
        template = (entry or {}).get(DEFAULT_LANGUAGE, key)
    else:
        template = entry[lang]
    return template.format_map(_Params(params)) if params else template


class _Params(dict):
    """Format parameters where a missing one reads "?" rather than failing the page."""

    def __missing__(self, key: str) -> str:
        return "?"


def translator(lang: str) -> Callable[..., str]:
    def t(key: str, **params: Any) -> str:
        return text(lang, key, **params)

    return t


def choose_language(cookie: str | None, accept_language: str | None) -> str:
    """The broker's choice (cookie), else the browser's first preference we have, else English."""
    if cookie in LANGUAGES:
        return cookie
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LANGUAGE


def duration(lang: str, span: timedelta) -> str:
    """A waiting time as a broker reads it: "3 min", "2 h 05 min", "4 d 3 h"."""
    minutes = int(span.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return text(lang, "duration.days", d=days, h=hours)
    if hours:
        return text(lang, "duration.hours", h=hours, m=minutes)
    return text(lang, "duration.minutes", m=minutes)
