"""Drawing helpers shared by the documents: text in runs of fonts, wrapped or fitted to a width, and tables.

Coordinates are reportlab's: points, origin at the bottom left of the page, y upwards. A text's y is its baseline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas

from services.orders.paper.fonts import Fonts, is_latin

Align = Literal["left", "right", "center"]
ELLIPSIS = "…"
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def clean(text: str | None) -> str:
    """One line of printable text: whitespace (newlines included) collapsed, control characters dropped."""
    if not text:
        return ""
    return _CONTROL.sub("", _SPACES.sub(" ", text)).strip()


class Pen:
    """Sets text on a canvas in the document fonts: Latin runs in Helvetica, the rest in the CJK font."""

    def __init__(self, canvas: Canvas, fonts: Fonts) -> None:
        self.canvas = canvas
        self.fonts = fonts

    def _font(self, latin: bool, bold: bool) -> str:
        if not latin:
            return self.fonts.cjk
        return self.fonts.latin_bold if bold else self.fonts.latin

    def char_width(self, char: str, size: float, bold: bool = False, *, latin_text: bool = True) -> float:
        """A character's width; in a text that is not all Latin, as the CJK font sets it if it has it."""
        latin = is_latin(char) and (latin_text or not self.fonts.covers(char))
        return pdfmetrics.stringWidth(char, self._font(latin, bold), size)

    def width(self, text: str, size: float, *, bold: bool = False) -> float:
        return sum(pdfmetrics.stringWidth(chunk, self._font(latin, bold), size) for latin, chunk in self.fonts.runs(text))

    def text(self, x: float, y: float, text: str, size: float, *, bold: bool = False, align: Align = "left") -> None:
        """Draw one line; `x` is its left edge, right edge or centre by `align`."""
        text = clean(text)
        if align != "left":
            width = self.width(text, size, bold=bold)
            x -= width if align == "right" else width / 2
        for latin, chunk in self.fonts.runs(text):
            font = self._font(latin, bold)
            self.canvas.setFont(font, size)
            self.canvas.drawString(x, y, chunk)
            x += pdfmetrics.stringWidth(chunk, font, size)

    def fit(self, text: str, size: float, max_width: float, *, bold: bool = False, ellipsis: bool = False) -> str:
        """The text, cut short with an ellipsis if it is wider than `max_width` (or if `ellipsis` says so)."""
        text = clean(text)
        if not ellipsis and self.width(text, size, bold=bold) <= max_width:
            return text
        limit = max_width - self.width(ELLIPSIS, size, bold=bold)
        kept, used = "", 0.0
        latin_text = all(is_latin(char) for char in text)
        for char in text:
            used += self.char_width(char, size, bold, latin_text=latin_text)
            if used > limit:
                break
            kept += char
        return kept.rstrip() + ELLIPSIS

    def lines(self, text: str, size: float, max_width: float, *, bold: bool = False,
              max_lines: int | None = None) -> list[str]:
        """The text broken into lines no wider than `max_width`: after spaces, around Chinese characters (which
        break anywhere), inside a word only when it alone is too wide. Past `max_lines` the last line ends in …"""
        out: list[str] = []
        line, used = "", 0.0
        last_break = 0  # a break may go after line[:last_break]
        text = clean(text)
        latin_text = all(is_latin(char) for char in text)
        for char in text:
            width = self.char_width(char, size, bold, latin_text=latin_text)
            if not line or used + width <= max_width:
                line, used = line + char, used + width
                if char == " " or not is_latin(char):
                    last_break = len(line)
                continue
            if char == " ":
                out.append(line.rstrip())
                line, used, last_break = "", 0.0, 0
                continue
            if is_latin(char) and 0 < last_break < len(line):
                out.append(line[:last_break].rstrip())
                line = line[last_break:]
            else:
                out.append(line.rstrip())
                line = ""
            line += char
            used = sum(self.char_width(c, size, bold, latin_text=latin_text) for c in line)
            last_break = len(line) if not is_latin(char) else 0
        if line.strip():
            out.append(line.strip())
        if max_lines is not None and len(out) > max_lines:
            out = out[:max_lines]
            out[-1] = self.fit(out[-1], size, max_width, bold=bold, ellipsis=True)
        return out

    def block(self, x: float, y: float, text: str, size: float, max_width: float, *, leading: float | None = None,
              bold: bool = False, max_lines: int | None = None) -> float:
        """Draw wrapped text downwards from baseline `y`; returns the baseline the next line would take."""
        leading = leading or size * 1.2
        for line in self.lines(text, size, max_width, bold=bold, max_lines=max_lines):
            self.text(x, y, line, size, bold=bold)
            y -= leading
        return y


def box(canvas: Canvas, x: float, y: float, width: float, height: float, *, line_width: float = 0.6) -> None:
    """A rectangle outline with its bottom-left corner at (x, y)."""
    canvas.setLineWidth(line_width)
    canvas.rect(x, y, width, height, stroke=1, fill=0)


def hline(canvas: Canvas, x1: float, x2: float, y: float, *, line_width: float = 0.6) -> None:
    canvas.setLineWidth(line_width)
    canvas.line(x1, y, x2, y)


def checkbox(pen: Pen, x: float, y: float, label: str, checked: bool, size: float) -> float:
    """A small box (crossed when checked) and its label on baseline `y`; returns the x after the label."""
    side = size * 0.9
    box(pen.canvas, x, y - size * 0.1, side, side, line_width=0.5)
    if checked:
        pen.canvas.setLineWidth(0.9)
        pen.canvas.line(x, y - size * 0.1, x + side, y - size * 0.1 + side)
        pen.canvas.line(x, y - size * 0.1 + side, x + side, y - size * 0.1)
    pen.text(x + side + 2, y, label, size)
    return x + side + 2 + pen.width(label, size) + size


@dataclass(frozen=True)
class Column:
    """A table column: its heading, width in points, alignment, and how many lines a cell may wrap to."""

    title: str
    width: float
    align: Align = "left"
    max_lines: int = 1


def table(pen: Pen, x: float, y_top: float, columns: Sequence[Column], rows: Sequence[Sequence[str]], *,
          size: float, y_bottom: float, heading_size: float | None = None, draw: bool = True) -> tuple[float, int]:
    """Draw a heading row and as many `rows` as fit above `y_bottom`, ruled; returns (the y below the last row
    drawn, how many rows were drawn). With `draw=False` only measures. The caller continues the rest elsewhere."""
    heading_size = heading_size or size
    pad = 2.0
    leading = size * 1.2
    total = sum(column.width for column in columns)
    # Headings wrap to at most 2 lines; cells to their column's max_lines.
    headings = [pen.lines(column.title, heading_size, column.width - 2 * pad, bold=True, max_lines=2)
                for column in columns]
    y = y_top - max(len(lines) for lines in headings) * heading_size * 1.2 - 2 * pad
    placed: list[tuple[float, list[list[str]]]] = []  # (the row's top, its cells' lines)
    for row in rows:
        cells = [pen.lines(value, size, column.width - 2 * pad, max_lines=column.max_lines) or [""]
                 for column, value in zip(columns, row, strict=True)]
        height = max(len(lines) for lines in cells) * leading + 2 * pad
        if y - height < y_bottom:
            break
        placed.append((y, cells))
        y -= height
    if draw:
        _cells(pen, x, y_top, columns, headings, heading_size, bold=True)
        for row_top, cells in placed:
            hline(pen.canvas, x, x + total, row_top, line_width=0.4)
            _cells(pen, x, row_top, columns, cells, size)
        hline(pen.canvas, x, x + total, y_top, line_width=0.4)
        hline(pen.canvas, x, x + total, y, line_width=0.4)
        pen.canvas.setLineWidth(0.4)
        cx = x
        for width in [0.0, *(column.width for column in columns)]:
            cx += width
            pen.canvas.line(cx, y_top, cx, y)
    return y, len(placed)


def _cells(pen: Pen, x: float, top: float, columns: Sequence[Column], cells: Sequence[Sequence[str]], size: float,
           *, bold: bool = False, pad: float = 2.0) -> None:
    for column, lines in zip(columns, cells, strict=True):
        ty = top - pad - size
        for line in lines:
            pen.text(_aligned_x(x, column, pad), ty, line, size, bold=bold, align=column.align)
            ty -= size * 1.2
        x += column.width


def _aligned_x(cell_x: float, column: Column, pad: float) -> float:
    if column.align == "right":
        return cell_x + column.width - pad
    if column.align == "center":
        return cell_x + column.width / 2
    return cell_x + pad


def flow(pen: Pen, columns: Sequence[Column], rows: Sequence[Sequence[str]], *, header: Callable[[int], float],
          closing: Callable[[float], None], x: float, table_size: float, heading_size: float, y_bottom: float,
          closing_height: float) -> None:
    """Header, the lines table over as many pages as it takes, then the closing block (totals, signature)."""
    page, remaining = 1, list(rows)
    options = {"size": table_size, "heading_size": heading_size}
    while True:
        y_top = header(page)
        if not remaining:
            closing(y_top)
            break
        _, fitting = table(pen, x, y_top, columns, remaining, y_bottom=y_bottom + closing_height, draw=False,
                           **options)
        if fitting == len(remaining):
            y, _ = table(pen, x, y_top, columns, remaining, y_bottom=y_bottom + closing_height, **options)
            closing(y)
            break
        # Not all of them fit above the closing block: fill this page, the closing block goes on a later one.
        _, drawn = table(pen, x, y_top, columns, remaining, y_bottom=y_bottom, **options)
        if drawn == 0:
            raise RuntimeError("a table line is taller than a page")
        remaining = remaining[drawn:]
        pen.canvas.showPage()
        page += 1
    pen.canvas.showPage()
