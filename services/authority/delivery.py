"""Posting receipts to customs: signed, in order per declaration, retried until customs takes it (2xx).

Receipts go in batches to POST /v1/receipts/batch (settings.receipt_batch a request; customs answers per receipt,
and each is settled on its own answer), or, with receipt_batch 1, one request each to POST /v1/receipts. In a
batch, receipts of one type go several to a signed document (settings.receipt_records; `documents`), and customs
answers per record.

The plan is in the database, so a restarted sandbox resumes where it stopped. A receipt's bytes (its document's)
are made and kept at its first attempt, so a retry (or a repeat after a lost answer) is byte for byte the same
document; customs recognises a record it already took as a duplicate.
"""

from __future__ import annotations

import asyncio
import base64
from collections import Counter as CounterOf
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import structlog
from lxml import etree
from prometheus_client import Counter

from services.authority import repository
from services.authority.settings import AuthoritySettings
from shared.ceb.fields import DSIG_NS, parse_xml
from shared.ceb.receipts import Receipt, build_receipts
from shared.ceb.signing import SigningIdentity, sign_xml
from shared.db import Database, utcnow

log = structlog.get_logger()
RECEIPTS = Counter("silkgate_authority_receipts_total", "Receipt posts to customs by the sandbox authority",
                   ["status", "result"])


def receipt_of(row: Any, *, now: Any) -> Receipt:
    """The receipt a planned row stands for; customs' numbers appear once the filing is accepted (120)."""
    numbered = row.return_status != 2
    return Receipt(
        message_type=row.receipt_type, receipt_guid=row.receipt_guid, guid=row.case_guid,
        return_status=row.return_status, return_time=now, return_info=row.return_info, cop_no=row.cop_no,
        order_no=row.order_no, pre_no=row.pre_no if numbered else None, invt_no=row.invt_no if numbered else None,
        answered_type=row.answered_type, customs_code=row.customs_code, ebp_code=row.ebp_code,
        ebc_code=row.ebc_code, agent_code=row.agent_code,
    )


@dataclass(frozen=True)
class Round:
    """What one round of posting did: receipts found due (at most settings.post_batch_size), and taken."""

    due: int = 0
    delivered: int = 0


async def post_due_receipts(db: Database, settings: AuthoritySettings, identity: SigningIdentity,
                            client: httpx.AsyncClient) -> Round:
    """Post the receipts that are due (the first waiting one of each filing)."""
    now = utcnow()
    async with db.reader() as session:
        due = await repository.due_receipts(session, now=now, limit=settings.post_batch_size)
    if not due:
        return Round()
    # Requests of up to receipt_batch receipts go concurrently; one declaration's receipts stay in their order, in
    # one request or one sequence of requests (a round holds at most the first waiting receipt of each case, and a
    # declaration's cases keep their due order here). One at a time, a slow answer from customs held every other
    # declaration's receipt behind it.
    by_declaration: dict[str, list[Any]] = {}
    for row in due:
        by_declaration.setdefault(row.cop_no or row.case_guid, []).append(row)
    records = 1 if settings.receipt_batch == 1 else settings.receipt_records
    sequences = [[documents(rows, size=records) for rows in requests]
                 for requests in batches(list(by_declaration.values()), size=settings.receipt_batch)]
    # A document of several kept from an earlier attempt goes again as it is, except to the single endpoint (the
    # setting changed since), which takes one record: its receipts are then signed again, each alone.
    bodies: dict[int, bytes] = {row.id: row.body for row in due
                                if row.body is not None and (records > 1 or _records_in(row.body) == 1)}
    made: dict[int, bytes] = {}
    for document in (document for requests in sequences for request in requests for document in request):
        if document[0].id not in bodies:  # new receipts: one signature for the document
            body = sign_xml(build_receipts([receipt_of(row, now=now) for row in document]), identity)
            made.update((row.id, body) for row in document)
    bodies.update(made)
    if made:  # kept before the first attempt: a retry sends these very bytes
        async with db.transaction() as session:
            await repository.set_bodies(session, made)
    limit = asyncio.Semaphore(settings.post_concurrency)
    errors: dict[int, str | None] = {}

    async def post_in_order(requests: list[list[list[Any]]]) -> None:
        async with limit:
            for request in requests:
                if settings.receipt_batch == 1:
                    row = request[0][0]
                    errors[row.id] = await _post(client, settings, bodies[row.id])
                else:
                    errors.update(await _post_batch(client, settings, [(bodies[doc[0].id], doc) for doc in request]))

    await asyncio.gather(*(post_in_order(requests) for requests in sequences))
    settled = utcnow()
    taken: list[int] = []
    failures: list[tuple[int, datetime, str]] = []
    for row in due:
        error = errors[row.id]
        if error is None:
            taken.append(row.id)
        else:
            failures.append((row.id, settled + timedelta(seconds=_backoff(settings, row.attempts)), error))
    async with db.transaction() as session:  # one commit settles the batch
        await repository.mark_delivered(session, taken, now=settled)
        await repository.postpone(session, failures)
    _report(due, errors)
    return Round(len(due), len(taken))


def _report(due: list[Any], errors: dict[int, str | None]) -> None:
    """One log line a round for the receipts customs took (one each was 3.7 lines a parcel, each through the
    masking and JSON rendering), and one per receipt it did not take."""
    outcomes: CounterOf[tuple[str, str]] = CounterOf()
    for row in due:
        error = errors[row.id]
        outcomes[str(row.return_status), "delivered" if error is None else "failed"] += 1
        if error is not None:
            log.warning("authority.receipt_post_failed", guid=row.case_guid, cop_no=row.cop_no,
                        receipt_type=row.receipt_type, status=row.return_status, attempts=row.attempts + 1,
                        error=error[:300])
    for labels, count in outcomes.items():
        RECEIPTS.labels(*labels).inc(count)
    delivered = {status: count for (status, result), count in sorted(outcomes.items()) if result == "delivered"}
    if delivered:
        log.info("authority.receipts_posted", receipts=sum(delivered.values()), by_status=delivered)


def _backoff(settings: AuthoritySettings, attempts: int) -> float:
    return settings.retry_backoff_s[min(attempts, len(settings.retry_backoff_s) - 1)]


async def _post(client: httpx.AsyncClient, settings: AuthoritySettings, body: bytes) -> str | None:
    """None when customs took the receipt (2xx), else what went wrong."""
    try:
        response = await client.post("/v1/receipts", content=body, headers={
            "Content-Type": "application/xml", "Authorization": f"Bearer {settings.api_key}"})
    except httpx.HTTPError as exc:
        return f"{type(exc).__name__}: {exc}"
    if 200 <= response.status_code < 300:
        return None
    return f"customs answered {response.status_code}: {response.text[:300]}"


def batches(declarations: list[list[Any]], *, size: int) -> list[list[list[Any]]]:
    """Requests of at most `size` receipts, as sequences posted one after the other: a declaration's receipts stay
    in one request (or, past `size`, in consecutive requests of one sequence), so they arrive in their order."""
    sequences: list[list[list[Any]]] = []
    shared: list[Any] = []
    for rows in declarations:
        if len(rows) > size:
            sequences.append([rows[i:i + size] for i in range(0, len(rows), size)])
            continue
        if len(shared) + len(rows) > size:
            sequences.append([shared])
            shared = []
        shared.extend(rows)
    if shared:
        sequences.append([shared])
    return sequences


def documents(rows: list[Any], *, size: int) -> list[list[Any]]:
    """One request's receipts as documents of at most `size` records, each of one receipt type, in an order that
    keeps every declaration's receipts in theirs (customs applies documents in order, and records in order).

    A receipt already signed at an earlier attempt goes again in its own document, with that document's other
    receipts still due. Otherwise, greedily: of the receipts that are next for their declaration, the most common
    type (the earliest on a tie) makes the next document. Declarations' receipts of different types (an order's
    CEB312, its inventory's CEB622) then go in two documents, not one each."""
    chains: list[list[Any]] = []
    for row in rows:
        declaration = row.cop_no or row.case_guid
        if chains and (chains[-1][0].cop_no or chains[-1][0].case_guid) == declaration:
            chains[-1].append(row)
        else:
            chains.append([row])
    chains = [chain[::-1] for chain in chains]  # popped from the end: each chain's next receipt is its last item
    made: list[list[Any]] = []
    while chains:
        kinds = CounterOf(_kind(chain[-1]) for chain in chains)
        best = max(kinds.values())
        kind = next(_kind(chain[-1]) for chain in chains if kinds[_kind(chain[-1])] == best)
        limit = size if isinstance(kind, str) else 100  # a signed document goes whole
        document: list[Any] = []
        for chain in chains:
            while chain and _kind(chain[-1]) == kind and len(document) < limit:
                document.append(chain.pop())
        made.append(document)
        chains = [chain for chain in chains if chain]
    return made


def _records_in(body: bytes) -> int:
    """How many receipt records a signed document kept from an earlier attempt holds (its root's children but the
    signature)."""
    return sum(1 for child in parse_xml(body) if etree.QName(child).namespace != DSIG_NS)


def _kind(row: Any) -> str | bytes:
    """What a receipt can share a document with: its signed document's bytes, or else its receipt type."""
    return row.body if row.body is not None else row.receipt_type


async def _post_batch(client: httpx.AsyncClient, settings: AuthoritySettings,
                      documents: list[tuple[bytes, list[Any]]]) -> dict[int, str | None]:
    """Per receipt row of the documents posted: None when customs took it (its result, or its record's in a
    document of several, answered 2xx), else what went wrong (the whole request failing fails each of them)."""
    rows = [row for _, document in documents for row in document]
    try:
        response = await client.post("/v1/receipts/batch", headers={"Authorization": f"Bearer {settings.api_key}"},
                                     json={"receipts": [base64.b64encode(body).decode("ascii")
                                                        for body, _ in documents]})
    except httpx.HTTPError as exc:
        return dict.fromkeys((row.id for row in rows), f"{type(exc).__name__}: {exc}")
    if response.status_code != 200:
        return dict.fromkeys((row.id for row in rows), f"customs answered {response.status_code}: "
                                                       f"{response.text[:300]}")
    try:
        results = response.json()["results"]
        if len(results) != len(documents):
            raise ValueError(f"{len(results)} results for {len(documents)} documents")
        errors: dict[int, str | None] = {}
        for result, (_, document) in zip(results, documents, strict=True):
            by_guid = {record["guid"]: record for record in result.get("records") or ()}
            for row in document:
                # A document of several records is answered per record (by the message each answers: a round
                # holds one receipt per case); one of a single record, by its result.
                item = by_guid.get(row.case_guid, result) if by_guid else result
                errors[row.id] = _error_of(item)
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return dict.fromkeys((row.id for row in rows), f"customs answered an unreadable batch result: {exc}")
    return errors


def _error_of(item: dict[str, Any]) -> str | None:
    status = int(item.get("status", 0))
    if 200 <= status < 300:
        return None
    return f"customs answered {item.get('status')} for it: {item.get('code')}: {str(item.get('detail'))[:200]}"
