"""Reading the documents back as a person or a scanner would: pages, sizes, text, pixels and barcodes."""

from __future__ import annotations

import io
from dataclasses import dataclass

import pypdfium2
import zxingcpp
from PIL import Image
from pypdf import PdfReader

POINTS_PER_MM = 72 / 25.4


@dataclass
class Page:
    width_mm: float
    height_mm: float
    text: str
    image: Image.Image

    @property
    def compact_text(self) -> str:
        """The text without whitespace (a value drawn in pieces reads as one)."""
        return "".join(self.text.split())

    def barcodes(self) -> list[tuple[str, str]]:
        """(format, text) of every barcode a scanner reads on the rendered page."""
        return [(result.format.name, result.text) for result in zxingcpp.read_barcodes(self.image)]


def pages(content: bytes, *, dpi: int = 200) -> list[Page]:
    """Every page of a PDF: its size in mm (pypdf), its text (pypdf) and a rendering at `dpi` (PDFium)."""
    assert content.startswith(b"%PDF-"), content[:20]
    reader = PdfReader(io.BytesIO(content))
    document = pypdfium2.PdfDocument(content)
    try:
        out = []
        for index, page in enumerate(reader.pages):
            box = page.mediabox
            image = document[index].render(scale=dpi / 72).to_pil().convert("L")
            out.append(Page(width_mm=float(box.width) / POINTS_PER_MM, height_mm=float(box.height) / POINTS_PER_MM,
                            text=page.extract_text(), image=image))
        return out
    finally:
        document.close()


def font_files(content: bytes) -> list[str]:
    """The names of the fonts embedded in the PDF (those with a font file)."""
    reader = PdfReader(io.BytesIO(content))
    names = set()
    for page in reader.pages:
        fonts = page["/Resources"].get_object().get("/Font", {})
        for font in fonts.values():
            font = font.get_object()
            for descendant in font.get("/DescendantFonts", [font]):
                descriptor = descendant.get_object().get("/FontDescriptor")
                if descriptor is not None and any(key in descriptor.get_object()
                                                   for key in ("/FontFile", "/FontFile2", "/FontFile3")):
                    names.add(str(font["/BaseFont"]))
    return sorted(names)
