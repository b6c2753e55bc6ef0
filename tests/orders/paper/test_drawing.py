"""Setting text: Latin in Helvetica, Chinese (and Cyrillic) in the CJK font, wrapped and fitted to a width."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import reportlab
from reportlab.pdfgen.canvas import Canvas

from services.orders.paper.drawing import Pen, clean
from services.orders.paper.fonts import STANDARD_CJK, SYSTEM_CJK_FONTS, FontUnavailable, fonts_for
from tests.orders.paper.pdf import font_files, pages

VERA = str(Path(reportlab.__file__).parent / "fonts" / "Vera.ttf")


def pen(font: str = STANDARD_CJK) -> Pen:
    return Pen(Canvas(io.BytesIO()), fonts_for(font))


def test_runs_keep_latin_in_helvetica_and_set_other_scripts_whole_in_the_cjk_font():
    fonts = fonts_for(STANDARD_CJK)
    assert fonts.runs("Abay Avenue 52") == [(True, "Abay Avenue 52")]
    # A Chinese address keeps its house number in the same font, so it reads (and extracts) as one.
    assert fonts.runs("人民路12号") == [(False, "人民路12号")]
    assert fonts.runs("Айгерим") == [(False, "Айгерим")]
    # Latin-1 letters STSong-Light may lack stay in Helvetica.
    assert fonts.runs("Müller 张") == [(False, "M"), (True, "ü"), (False, "ller 张")]


def test_text_is_one_printable_line():
    assert clean(" Room 1203,\n Building 5\t\x00 ") == "Room 1203, Building 5"
    assert clean(None) == ""


def test_lines_break_at_spaces_and_anywhere_between_chinese_characters():
    p = pen()
    width = p.width("Jianwai SOHO, Chaoyang", 8)
    lines = p.lines("Room 1203, Building 5, Jianwai SOHO, Chaoyang District", 8, width)
    assert all(p.width(line, 8) <= width + 0.01 for line in lines)
    assert " ".join(lines) == "Room 1203, Building 5, Jianwai SOHO, Chaoyang District"
    chinese = "新疆维吾尔自治区喀什市人民路十二号"
    lines = p.lines(chinese, 8, p.width("新疆维吾尔", 8))
    assert lines == ["新疆维吾尔", "自治区喀什", "市人民路十", "二号"]


def test_a_word_wider_than_the_line_is_cut_and_max_lines_ends_in_an_ellipsis():
    p = pen()
    lines = p.lines("Supercalifragilisticexpialidocious", 10, p.width("Supercali", 10))
    assert "".join(lines) == "Supercalifragilisticexpialidocious" and len(lines) > 2
    cut = p.lines("one two three four five six seven", 10, p.width("one two", 10), max_lines=2)
    assert len(cut) == 2 and cut[-1].endswith("…")
    assert p.fit("a long consignee name", 10, p.width("a long", 10)).endswith("…")
    assert p.fit("short", 10, 100) == "short"


def test_a_configured_truetype_font_is_embedded():
    fonts = fonts_for(VERA)
    assert fonts.embedded and fonts.source == VERA
    canvas = Canvas(buffer := io.BytesIO())
    Pen(canvas, fonts).text(10, 10, "Айгерим Müller", 10)
    canvas.save()
    assert any("Vera" in name for name in font_files(buffer.getvalue()))


def test_a_missing_or_unusable_font_file_is_an_error_not_a_silent_fallback(tmp_path):
    with pytest.raises(FontUnavailable):
        fonts_for(str(tmp_path / "missing.ttf"))
    bogus = tmp_path / "bogus.ttf"
    bogus.write_bytes(b"not a font")
    with pytest.raises(FontUnavailable):
        fonts_for(str(bogus))


def test_the_standard_font_is_named_not_embedded():
    fonts = fonts_for(STANDARD_CJK)
    assert not fonts.embedded
    canvas = Canvas(buffer := io.BytesIO())
    Pen(canvas, fonts).text(10, 10, "张伟", 10)
    canvas.save()
    assert font_files(buffer.getvalue()) == []
    assert "张伟" in pages(buffer.getvalue())[0].text


SYSTEM_FONT = next((path for path in SYSTEM_CJK_FONTS if Path(path).is_file()), None)


@pytest.mark.skipif(SYSTEM_FONT is None, reason="no system CJK font here (.ci/run installs fonts-wqy-microhei)")
def test_auto_embeds_a_system_cjk_font_and_the_glyphs_show():
    fonts = fonts_for("auto")
    assert fonts.embedded and fonts.source == SYSTEM_FONT
    canvas = Canvas(buffer := io.BytesIO(), pagesize=(200, 60))
    Pen(canvas, fonts).text(10, 20, "张伟", 30)
    canvas.save()
    [page] = pages(buffer.getvalue())
    assert page.text.strip() == "张伟"
    assert page.image.getextrema()[0] < 100  # dark pixels: the glyphs are drawn, not left blank
