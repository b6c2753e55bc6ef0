"""Use cases of the documents: one order's label, customs form or invoice; many orders' at once.

Reading only: an order's documents are drawn from the order and its timeline as they are now. The drawing is
CPU work (a few milliseconds a page) and runs in a worker thread so the event loop keeps serving requests.
"""

from __future__ import annotations

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from reportlab.pdfgen.canvas import Canvas
from starlette.concurrency import run_in_threadpool

from services.orders.models import Order
from services.orders.paper import repository
from services.orders.paper.cn_form import draw_cn_form
from services.orders.paper.content import OrderPaper
from services.orders.paper.drawing import Pen
from services.orders.paper.facts import order_facts
from services.orders.paper.fonts import Fonts, FontUnavailable, fonts_for
from services.orders.paper.invoice import draw_invoice
from services.orders.paper.label import draw_label
from services.orders.paper.rules import Document, document_problem
from shared.auth import Principal
from shared.contract.parcel import Parcel
from shared.db import Database
from shared.errors import InvalidInput, NotFound, ServiceUnavailable, SilkgateError

log = structlog.get_logger()

PDF = "application/pdf"
ZIP = "application/zip"
# Roles that see every merchant's orders (the others see their own: owner = merchant code).
_ALL_ORDERS_ROLES = frozenset({"ops"})
_DRAWERS: dict[Document, Callable[[Pen, OrderPaper], None]] = {
    "label": draw_label, "customs_form": draw_cn_form, "commercial_invoice": draw_invoice,
}
# reportlab keeps some state in module globals (fonts, their per-document subsets): one drawing at a time per
# process. Drawing is CPU-bound Python, so the GIL would serialise it anyway; a page takes 2–7 ms.
_RENDER_LOCK = threading.Lock()
FILE_NAMES: dict[Document, str] = {"label": "label", "customs_form": "customs-form",
                                   "commercial_invoice": "commercial-invoice"}


@dataclass(frozen=True)
class DocumentSettings:
    cjk_font: str
    retry_after_s: int


@dataclass(frozen=True)
class File:
    content: bytes
    media_type: str
    filename: str


# ── one order ─────────────────────────────────────────────────────────────────


async def order_document(db: Database, principal: Principal, order_id: str, document: Document,
                         settings: DocumentSettings) -> File:
    """One order's document as a PDF; 404 for an order this key may not see, 409 while it is not ready."""
    papers = await _load(db, principal, [order_id])
    paper = papers.get(order_id)
    if paper is None:
        raise NotFound(f"No order {order_id}", code="order_not_found")
    problem = _problem(document, paper, settings)
    if problem is not None:
        raise problem
    content, _ = await _render(document, [paper], settings)
    name = paper.customs_form.lower() if document == "customs_form" and paper.customs_form else FILE_NAMES[document]
    return File(content, PDF, f"{paper.order_id}-{name}.pdf")


async def document_status(db: Database, principal: Principal, order_id: str,
                          settings: DocumentSettings) -> dict[str, Any]:
    """Which of the order's documents can be printed now, and why not the others."""
    paper = (await _load(db, principal, [order_id])).get(order_id)
    if paper is None:
        raise NotFound(f"No order {order_id}", code="order_not_found")
    out = []
    for document, path in (("label", "label"), ("customs_form", "customs-form"),
                           ("commercial_invoice", "commercial-invoice")):
        problem = _problem(document, paper, settings)
        out.append({"document": document, "url": f"/v1/orders/{order_id}/{path}", "available": problem is None,
                    "code": problem.code if problem else None, "detail": problem.detail if problem else None})
    return {"order_id": order_id, "customs_form": paper.customs_form, "tracking_number": paper.tracking_number,
            "documents": out}


# ── many orders ───────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Outcome:
    """One requested order in a batch: its paper when it has the document, else the problem."""

    index: int
    order_id: str
    paper: OrderPaper | None
    problem: SilkgateError | None


async def batch_documents(db: Database, principal: Principal, order_ids: Sequence[str], document: Document,
                          output: Literal["pdf", "zip"], settings: DocumentSettings) -> File:
    """Many orders' documents at once, in the order given.

    pdf: one PDF with every order's pages, or (when any order has no such document now) 422 documents_unavailable
    naming each such order in `errors` (field order_ids[i], its own code): nothing is printed by halves.
    zip: always 200: `<document>s.pdf` with the orders that have one and `results.json` with every order's outcome
    (200 and its pages, or 404/409 and the problem).
    """
    _check_unique(order_ids)
    papers = await _load(db, principal, order_ids)
    outcomes = []
    for index, order_id in enumerate(order_ids):
        paper = papers.get(order_id)
        problem = (NotFound(f"No order {order_id}", code="order_not_found") if paper is None
                   else _problem(document, paper, settings))
        outcomes.append(Outcome(index, order_id, paper if problem is None else None, problem))
    failed = [outcome for outcome in outcomes if outcome.problem is not None]
    if output == "pdf":
        if failed:
            raise _unavailable(failed, document)
        content, _ = await _render(document, [o.paper for o in outcomes if o.paper is not None], settings)
        return File(content, PDF, f"{FILE_NAMES[document]}s.pdf")
    printable = [o.paper for o in outcomes if o.paper is not None]
    content, pages = await _render(document, printable, settings) if printable else (b"", [])
    return File(_zip(document, outcomes, content, pages), ZIP, f"{FILE_NAMES[document]}s.zip")


def _check_unique(order_ids: Sequence[str]) -> None:
    seen: dict[str, int] = {}
    errors = []
    for index, order_id in enumerate(order_ids):
        if order_id in seen:
            errors.append({"field": f"order_ids[{index}]", "code": "duplicate_order_id",
                           "message": f"{order_id} is listed already at order_ids[{seen[order_id]}]"})
        seen.setdefault(order_id, index)
    if errors:
        first = errors[0]
        raise InvalidInput(first["message"], code=first["code"], field=first["field"], errors=errors)


def _unavailable(failed: Sequence[Outcome], document: Document) -> InvalidInput:
    errors = [{"field": f"order_ids[{o.index}]", "code": o.problem.code, "message": o.problem.detail,
               "order_id": o.order_id, "status": o.problem.status} for o in failed if o.problem is not None]
    # Worth retrying as a whole only when every failure is one that passes (a number or a form on its way).
    retry_after = [o.problem.headers.get("Retry-After") for o in failed if o.problem is not None]
    headers = {"Retry-After": max(retry_after, key=int)} if all(retry_after) else {}
    return InvalidInput(f"{len(failed)} of the orders have no {document.replace('_', ' ')} now: nothing was printed "
                        "(ask for format zip to get the others)", code="documents_unavailable",
                        field=errors[0]["field"], errors=errors, headers=headers)


def _zip(document: Document, outcomes: Sequence[Outcome], content: bytes, pages: Sequence[list[int]]) -> bytes:
    pages_of = iter(pages)
    results = []
    for outcome in outcomes:
        if outcome.problem is None:
            results.append({"index": outcome.index, "order_id": outcome.order_id, "status": 200,
                            "pages": next(pages_of), "problem": None})
        else:
            results.append({"index": outcome.index, "order_id": outcome.order_id, "status": outcome.problem.status,
                            "pages": [], "problem": outcome.problem.problem()})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if content:
            archive.writestr(f"{FILE_NAMES[document]}s.pdf", content)
        archive.writestr("results.json", json.dumps({"document": document, "results": results}, indent=2))
    return buffer.getvalue()


# ── shared ────────────────────────────────────────────────────────────────────


async def _load(db: Database, principal: Principal, order_ids: Sequence[str]) -> dict[str, OrderPaper]:
    """The orders this key may see among `order_ids`, as their documents see them."""
    merchant_code = None if principal.role in _ALL_ORDERS_ROLES else principal.owner
    async with db.reader() as session:
        orders = await repository.orders_by_id(session, order_ids, merchant_code=merchant_code)
        entries = await repository.paper_entries(session, list(orders))
    return {order_id: _paper(order, entries[order_id]) for order_id, order in orders.items()}


def _paper(order: Order, entries: Sequence[Any]) -> OrderPaper:
    facts = order_facts(entries)
    return OrderPaper(order_id=order.id, merchant_order_no=order.merchant_order_no, created_at=order.created_at,
                      status=order.status, tracking_number=order.tracking_number,
                      parcel=Parcel.model_validate(order.parcel), customs_form=facts.customs_form,
                      carrier=facts.carrier)


def _problem(document: Document, paper: OrderPaper, settings: DocumentSettings) -> SilkgateError | None:
    return document_problem(document, order_id=paper.order_id, channel=paper.channel, status=paper.status,
                            tracking_number=paper.tracking_number, form=paper.customs_form,
                            retry_after_s=settings.retry_after_s)


async def _render(document: Document, papers: Sequence[OrderPaper],
                  settings: DocumentSettings) -> tuple[bytes, list[list[int]]]:
    started = time.perf_counter()
    try:
        fonts = fonts_for(settings.cjk_font)
    except FontUnavailable as exc:
        log.error("documents.font_unavailable", setting=settings.cjk_font, error=str(exc))
        raise ServiceUnavailable("The documents' font is misconfigured; it has been logged",
                                 code="document_font_unavailable") from exc
    content, pages = await run_in_threadpool(render, document, papers, fonts)
    log.info("documents.rendered", document=document, orders=len(papers), pages=sum(len(p) for p in pages),
             bytes=len(content), ms=round((time.perf_counter() - started) * 1000, 1))
    return content, pages


def render(document: Document, papers: Sequence[OrderPaper], fonts: Fonts) -> tuple[bytes, list[list[int]]]:
    """One PDF with each order's pages in turn; returns it and each order's page numbers (from 1)."""
    with _RENDER_LOCK:
        return _render_locked(document, papers, fonts)


def _render_locked(document: Document, papers: Sequence[OrderPaper], fonts: Fonts) -> tuple[bytes, list[list[int]]]:
    buffer = io.BytesIO()
    # invariant: no creation time or random id in the file, so the same order gives the same bytes.
    canvas = Canvas(buffer, invariant=1, pageCompression=1)
    canvas.setTitle(f"silkgate {FILE_NAMES[document].replace('-', ' ')}")
    canvas.setAuthor("silkgate")
    pen = Pen(canvas, fonts)
    pages = []
    for paper in papers:
        first = canvas.getPageNumber()
        _DRAWERS[document](pen, paper)
        pages.append(list(range(first, canvas.getPageNumber())))
    canvas.save()
    return buffer.getvalue(), pages
