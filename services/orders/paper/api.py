"""HTTP endpoints of the documents: an order's label, CN22/CN23 and commercial invoice as PDF, one or many."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from services.orders import examples
from services.orders.examples import responses
from services.orders.paper import documents
from services.orders.paper.documents import DocumentSettings, File
from services.orders.paper.rules import Document
from services.orders.paper.schemas import BatchDocumentsRequest, DocumentKind
from shared.auth import Principal, require_roles

router = APIRouter(tags=["documents"])

DocumentsKey = Annotated[Principal, Depends(require_roles("merchant", "ops"))]
OrderId = Annotated[str, Path(description="The order id", examples=["ord_3f9c2a7be1d04c6a8e5f0b12"], max_length=64)]
KINDS: dict[str, Document] = {"labels": "label", "customs-forms": "customs_form",
                              "commercial-invoices": "commercial_invoice"}

_BINARY = {"type": "string", "format": "binary"}
_PDF = {"content": {"application/pdf": {"schema": _BINARY, "example": "%PDF-1.4 … (the document's bytes)"}}}
_COMMON = (
    (401, "Missing, unknown or revoked API key",
     examples.problem(401, "api_key_invalid", "Missing or invalid API key", "Unknown or revoked API key")),
    (403, "The key's role may not call this endpoint",
     examples.problem(403, "role_not_allowed", "Not allowed for this key",
                      "This endpoint needs a key with role merchant or ops")),
    (404, "No such order (or another merchant's)", examples.NOT_FOUND_PROBLEM),
    (422, "Invalid input: the field at fault and a stable code",
     examples.problem(422, "too_long", "Invalid input", "String should have at most 64 characters",
                      field="order_id", instance="/v1/orders/ord_…/label")),
)
_TRACKING_PENDING = examples.problem(
    409, "tracking_number_pending", "Conflict",
    "Order ord_3f9c2a7be1d04c6a8e5f0b12 has no tracking number yet: postal issues it within seconds of acceptance; "
    "retry", instance="/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/label")
_FORM_PENDING = examples.problem(
    409, "customs_form_pending", "Conflict",
    "Customs has not yet decided whether order ord_3f9c2a7be1d04c6a8e5f0b12 travels with a CN22 or a CN23; retry",
    instance="/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/customs-form")


def _settings(request: Request) -> DocumentSettings:
    settings = request.app.state.runtime.settings
    return DocumentSettings(cjk_font=settings.document_cjk_font, retry_after_s=settings.documents_retry_after_s)


def _file(file: File) -> Response:
    disposition = "inline" if file.media_type == documents.PDF else "attachment"
    return Response(file.content, media_type=file.media_type,
                    headers={"Content-Disposition": f'{disposition}; filename="{file.filename}"'})


async def _one(request: Request, principal: Principal, order_id: str, document: Document) -> Response:
    runtime = request.app.state.runtime
    return _file(await documents.order_document(runtime.db, principal, order_id, document, _settings(request)))


@router.get(
    "/orders/{order_id}/label", summary="The order's shipping label (PDF, 100 × 150 mm)", response_class=Response,
    responses={200: {"description": "The label: tracking number as Code 128 and in text, sender, consignee, "
                                    "channel, form, weight", **_PDF},
               **responses(*_COMMON, (409, ("No tracking number yet (retry after `Retry-After` seconds), or the "
                                            "order was cancelled or rejected (`order_not_shippable`)"),
                                      _TRACKING_PENDING))},
)
async def get_label(request: Request, order_id: OrderId, principal: DocumentsKey) -> Response:
    """One page, 100 × 150 mm (4 × 6 in, thermal label printers): channel and direction, the customs form, the
    carrier and (mail) the S10 service, sender, consignee, order number, weight and contents, and the tracking
    number as a Code 128 barcode with the number under it. Ready once postal has issued the tracking number."""
    return await _one(request, principal, order_id, "label")


@router.get(
    "/orders/{order_id}/customs-form", summary="The mail item's CN22 or CN23 customs declaration (PDF)",
    response_class=Response,
    responses={200: {"description": "The CN22 (100 × 150 mm) or CN23 (A4) customs chose for the item", **_PDF},
               **responses(*_COMMON, (409, ("Customs has not chosen the form yet (retry after `Retry-After` "
                                            "seconds), or never will (`customs_form_unavailable`)"),
                                      _FORM_PENDING))},
)
async def get_customs_form(request: Request, order_id: OrderId, principal: DocumentsKey) -> Response:
    """Mail only (404 `document_not_applicable` for express and e-commerce: print their commercial invoice). The
    UPU fields: sender, addressee, category of item, per line the description, quantity, net weight, value, HS
    tariff number and origin; total weight and value; the declaration with date and signature line (CN23 also
    postal charges, references, licence/certificate/invoice numbers, office and date of posting)."""
    return await _one(request, principal, order_id, "customs_form")


@router.get(
    "/orders/{order_id}/commercial-invoice", summary="The order's commercial invoice (PDF, A4)",
    response_class=Response,
    responses={200: {"description": "The commercial invoice", **_PDF}, **responses(*_COMMON)},
)
async def get_commercial_invoice(request: Request, order_id: OrderId, principal: DocumentsKey) -> Response:
    """Seller, buyer and consignee; invoice number (the merchant order number), date, waybill, carrier; currency,
    incoterm, origin and destination; lines with HS codes, origin, quantities, unit and total prices; goods,
    discount, freight, insurance, tax and total; weights; the declaration and signature line. Any order, at once."""
    return await _one(request, principal, order_id, "commercial_invoice")


@router.get(
    "/orders/{order_id}/documents", summary="Which of the order's documents can be printed now",
    responses=responses(
        (200, "Each document, available or not and why", {
            "order_id": "ord_3f9c2a7be1d04c6a8e5f0b12", "customs_form": None, "tracking_number": "CP123456785CN",
            "documents": [
                {"document": "label", "url": "/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/label", "available": True,
                 "code": None, "detail": None},
                {"document": "customs_form", "url": "/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/customs-form",
                 "available": False, "code": "customs_form_pending",
                 "detail": "Customs has not yet decided whether order ord_3f9c2a7be1d04c6a8e5f0b12 travels with a "
                           "CN22 or a CN23; retry"},
                {"document": "commercial_invoice",
                 "url": "/v1/orders/ord_3f9c2a7be1d04c6a8e5f0b12/commercial-invoice", "available": True,
                 "code": None, "detail": None}]}),
        *_COMMON),
)
async def get_documents(request: Request, order_id: OrderId, principal: DocumentsKey) -> JSONResponse:
    """Each document with its URL, whether it is ready, and if not the code its own endpoint would answer."""
    runtime = request.app.state.runtime
    return JSONResponse(await documents.document_status(runtime.db, principal, order_id, _settings(request)))


_BATCH_UNAVAILABLE = examples.problem(
    422, "documents_unavailable", "Invalid input",
    "2 of the orders have no label now: nothing was printed (ask for format zip to get the others)",
    field="order_ids[1]", instance="/v1/documents/labels")
_BATCH_UNAVAILABLE["errors"] = [
    {"field": "order_ids[1]", "code": "order_not_found", "message": "No order ord_0000", "order_id": "ord_0000",
     "status": 404},
    {"field": "order_ids[2]", "code": "tracking_number_pending", "status": 409, "order_id": "ord_8b1e0c2d…",
     "message": "Order ord_8b1e0c2d… has no tracking number yet: postal issues it within seconds of acceptance; "
                "retry"},
]


@router.post(
    "/documents/{kind}", summary="Many orders' labels, customs forms or invoices at once", response_class=Response,
    responses={200: {"description": "pdf: one PDF, each order's pages in the order given; zip: the PDF of the "
                                    "orders that have the document and results.json with every order's outcome",
                     "content": {"application/pdf": {"schema": _BINARY, "example": "%PDF-1.4 … (the pages)"},
                                 "application/zip": {"schema": _BINARY,
                                                     "example": "PK… (labels.pdf and results.json)"}}},
               **responses(*_COMMON[:2], (422, ("pdf: some orders have no such document now (each named in "
                                                "`errors`, with its own code); or a duplicate order id"),
                                          _BATCH_UNAVAILABLE))},
)
async def post_documents(
    request: Request,
    kind: Annotated[DocumentKind, Path(description="labels, customs-forms or commercial-invoices")],
    body: Annotated[BatchDocumentsRequest, Body(openapi_examples={
        "pdf": {"summary": "Two labels in one PDF", "value": {"order_ids": ["ord_3f9c2a7be1d04c6a8e5f0b12",
                                                                           "ord_8b1e0c2d4f6a4b7c9d0e1f23"]}},
        "zip": {"summary": "What can be printed, and a report", "value": {
            "order_ids": ["ord_3f9c2a7be1d04c6a8e5f0b12", "ord_8b1e0c2d4f6a4b7c9d0e1f23"], "format": "zip"}}})],
    principal: DocumentsKey,
) -> Response:
    """Up to 100 orders. `format: pdf` (the default) is all or nothing: one PDF with every order's pages, or a 422
    `documents_unavailable` whose `errors` name each order that has no such document now (`order_ids[i]`, with the
    code its own endpoint would answer: order_not_found, tracking_number_pending, customs_form_pending…), with
    `Retry-After` when every one of them is only pending. `format: zip` always answers 200 with `<kind>.pdf` (the
    orders that have the document, in the order given) and `results.json` (per order: status 200 and its pages, or
    404/409 and the problem)."""
    runtime = request.app.state.runtime
    file = await documents.batch_documents(runtime.db, principal, body.order_ids, KINDS[kind], body.format,
                                           _settings(request))
    return _file(file)

