"""The fonts the documents are set in: Helvetica for Latin script, one CJK font for everything else.

Names and addresses may be Chinese (or Cyrillic: Kazakh and Kyrgyz consignees), which Helvetica cannot show. A
string Helvetica can set (Windows-1252) is set in Helvetica; any other is set in the CJK font, all of it (so a
Chinese address with its house number reads as one run, on paper and in text extraction), except characters that
font lacks and Helvetica has, which stay in Helvetica. The CJK font is
- a TrueType font file (.ttf, or .ttc: its first face) given by `SILKGATE_ORDERS_DOCUMENT_CJK_FONT`, embedded in
  each PDF (subset to the characters used), so the text shows on any viewer or printer; or, with `auto` (the
  default), the first of a few well-known system fonts found (Debian's fonts-wqy-microhei, fonts-wqy-zenhei,
  fonts-arphic-uming, fonts-droid-fallback);
- else `STSong-Light`, the PDF standard Simplified Chinese font (Adobe-GB1, which covers Cyrillic too): it is
  named, not embedded, and the viewer supplies it (Acrobat, Windows, macOS and browsers do; a Linux machine
  without any CJK font shows blanks). The text is in the PDF either way (search, copy, text extraction).
"""

from __future__ import annotations

import threading
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import structlog
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.cidfonts import UnicodeCIDFont
from reportlab.pdfbase.ttfonts import TTFError, TTFont

log = structlog.get_logger()

LATIN = "Helvetica"
LATIN_BOLD = "Helvetica-Bold"
STANDARD_CJK = "STSong-Light"
AUTO = "auto"
_EMBEDDED_NAME = "SilkgateCJK"
# TrueType CJK fonts of common Linux packages, in order of preference (TrueType outlines: reportlab embeds those).
SYSTEM_CJK_FONTS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/usr/share/fonts/truetype/arphic/uming.ttc",
    "/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf",
)
_lock = threading.Lock()


class FontUnavailable(RuntimeError):
    """The configured font file is missing or not a TrueType font reportlab can embed."""


@dataclass(frozen=True)
class Fonts:
    """The registered fonts a document uses: `cjk` is a reportlab font name, `source` what it came from."""

    cjk: str
    embedded: bool
    source: str
    covers: Callable[[str], bool] = field(compare=False)  # does the CJK font have a glyph for this character?
    latin: str = LATIN
    latin_bold: str = LATIN_BOLD

    def runs(self, text: str) -> list[tuple[bool, str]]:
        """The text cut into runs of (latin, characters), each set in one font: Helvetica or the CJK font."""
        if all(is_latin(char) for char in text):
            return [(True, text)] if text else []
        out: list[tuple[bool, str]] = []
        for char in text:
            latin = is_latin(char) and not self.covers(char)
            if out and out[-1][0] == latin:
                out[-1] = (latin, out[-1][1] + char)
            else:
                out.append((latin, char))
        return out


def fonts_for(setting: str) -> Fonts:
    """The fonts for a `document_cjk_font` setting (`auto`, `STSong-Light` or a font file), registered once."""
    return _fonts(setting.strip() or AUTO)


@lru_cache(maxsize=8)
def _fonts(setting: str) -> Fonts:
    with _lock:
        if setting == STANDARD_CJK:
            return _standard()
        if setting == AUTO:
            for candidate in SYSTEM_CJK_FONTS:
                if Path(candidate).is_file():
                    try:
                        return _embedded(candidate)
                    except FontUnavailable as exc:
                        log.warning("documents.font_skipped", path=candidate, error=str(exc))
            return _standard()
        return _embedded(setting)


def _standard() -> Fonts:
    if STANDARD_CJK not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(STANDARD_CJK))
    log.info("documents.font", cjk=STANDARD_CJK, embedded=False)
    # Adobe-GB1 has ASCII and the Chinese, Cyrillic and Greek of GB 2312; Latin-1 letters are left to Helvetica.
    return Fonts(cjk=STANDARD_CJK, embedded=False, source=STANDARD_CJK, covers=lambda char: char.isascii() or not is_latin(char))


def _embedded(path: str) -> Fonts:
    if not Path(path).is_file():
        raise FontUnavailable(f"no font file at {path}")
    name = f"{_EMBEDDED_NAME}-{zlib.crc32(path.encode()):08x}"
    if name not in pdfmetrics.getRegisteredFontNames():
        try:
            pdfmetrics.registerFont(TTFont(name, path, subfontIndex=0))
        except (TTFError, OSError) as exc:
            raise FontUnavailable(f"{path} is not a TrueType font reportlab can embed: {exc}") from exc
    glyphs = frozenset(pdfmetrics.getFont(name).face.charToGlyph)
    log.info("documents.font", cjk=path, embedded=True, glyphs=len(glyphs))
    return Fonts(cjk=name, embedded=True, source=path, covers=lambda char: ord(char) in glyphs)


def is_latin(char: str) -> bool:
    """True when Helvetica can set the character (the standard fonts' WinAnsi encoding is Windows-1252)."""
    try:
        char.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True
