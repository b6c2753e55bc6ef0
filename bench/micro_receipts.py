"""CPU of the customs authority's receipts in the customs API, in process: python -m bench.micro_receipts [--db postgres]

Files N parcels' declarations through the real use cases (a third each mail, express and e-commerce; not
measured), then posts the authority's receipts as its sandbox does: rounds of the first waiting receipt of each
filed message (2, then 120, then 800 for a filing; 2 and 120 for an e-commerce order's CEB311), a declaration's
receipts in one request, up to --batch receipts a request, through the ASGI app (POST /v1/receipts/batch; --via
direct calls receipts_batch.receive_batch). The receipts are built and signed up front (the authority's CPU).

Prints CPU ms per receipt (time.process_time while only the posting runs: no relay, consumers or workers) and SQL
statements per receipt (a before_cursor_execute listener), split by what the statements were.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import cProfile
import json
import os
import shutil
import tempfile
import time
import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

import httpx
from sqlalchemy import event, func, select

from bench.micro_customs import drop_database, fresh_database, statement_kind
from bench.orders import order_body
from services.authority.delivery import documents
from services.customs import receipts_batch
from services.customs.app import create_app
from services.customs.intake import open_declaration, receive_payment, receive_waybill
from services.customs.models import Declaration, Message, Receipt
from services.customs.repository import DeclarationRepository
from services.customs.service import outbox_emitter
from services.customs.settings import CustomsSettings
from shared.auth import Principal, generate_key
from shared.ceb.fields import new_guid
from shared.ceb.receipts import RECEIPT_OF, build_receipts
from shared.ceb.receipts import Receipt as CebReceipt
from shared.ceb.signing import SigningIdentity, sign_xml
from shared.certificates import ensure_pair
from shared.contract.events import OrderAccepted, PaymentRecorded, WaybillIssued
from shared.contract.parcel import Parcel, Payment
from shared.natsserver import NatsServer

CARRIERS = {"mail": "CNPOST", "express": "SGX", "ecommerce": "CNPOST"}
FILING_STEPS = (2, 120, 800)
ORDER_STEPS = (2, 120)


async def file_parcels(runtime, config, parcels: int, run: str) -> None:
    """Each parcel's declaration opened and given its documents, so it is filed (messages queued, unsent)."""
    for n in range(parcels):
        order_id = f"ord_{run}{n:08d}"
        body = order_body(n, run, held=False)
        parcel = Parcel.model_validate(body)
        accepted = OrderAccepted(order_id=order_id, merchant_code="kashgar-trading", accepted_at=config.now(),
                                 parcel=parcel)
        documents: list = [WaybillIssued(order_id=order_id, merchant_order_no=parcel.merchant_order_no,
                                         tracking_number=f"RR{n:09d}CN", channel=parcel.channel,
                                         carrier=CARRIERS[parcel.channel], consignee=parcel.consignee,
                                         issued_at=config.now())]
        if body.get("payment"):
            documents.append(PaymentRecorded(order_id=order_id, merchant_code="kashgar-trading",
                                             payment=Payment.model_validate(body["payment"])))
        async with runtime.db.transaction() as session:
            await open_declaration(DeclarationRepository(session), config, accepted, correlation_id=f"corr-{order_id}",
                                   event_id=None, emit=outbox_emitter(runtime.outbox, session))
        for document in documents:
            receive = receive_payment if isinstance(document, PaymentRecorded) else receive_waybill
            async with runtime.db.transaction() as session:
                await receive(DeclarationRepository(session), config, document, event_id=None,
                              emit=outbox_emitter(runtime.outbox, session))


def receipt_of(message: Message, status: int, at) -> CebReceipt:
    numbered = status != 2 and message.message_type in ("CEB621", "CEB603")
    return CebReceipt(
        message_type=RECEIPT_OF[message.message_type], receipt_guid=new_guid(), guid=message.guid,
        return_status=status, return_time=at, return_info=f"status {status}", cop_no=message.declaration_id,
        order_no="SO-1", pre_no="P460020260000001" if numbered else None,
        invt_no="46002026I000000001" if numbered else None,
        answered_type=message.message_type if RECEIPT_OF[message.message_type] == "CUSRSP" else None,
        customs_code="4600", ebp_code="6501960002", ebc_code="M-KASHGAR", agent_code="6501960001")


async def plan_rounds(runtime, config, identity: SigningIdentity, batch: int,
                      records: int) -> tuple[list[list[list[bytes]]], int]:
    """Per round, the requests: each the receipts of whole declarations, at most `batch` receipts, signed as the
    sandbox signs them (documents of up to `records` records of one type, services.authority.delivery.documents).
    Also how many receipts in all."""
    async with runtime.db.reader() as session:
        messages = list((await session.execute(
            select(Message).order_by(Message.declaration_id, Message.created_at, Message.message_type))).scalars())
    start = config.now()
    rounds, receipts = [], 0
    for step in range(len(FILING_STEPS)):
        by_declaration: dict[str, list[SimpleNamespace]] = {}
        for message in messages:
            steps = ORDER_STEPS if message.purpose == "order" else FILING_STEPS
            if step < len(steps):
                at = start + timedelta(milliseconds=step)
                receipt = receipt_of(message, steps[step], at)
                by_declaration.setdefault(message.declaration_id, []).append(SimpleNamespace(
                    receipt=receipt, cop_no=message.declaration_id, case_guid=message.guid,
                    receipt_type=receipt.message_type, body=None))
                receipts += 1
        requests, current = [], []
        for rows in by_declaration.values():
            if len(current) + len(rows) > batch:
                requests.append(current)
                current = []
            current.extend(rows)
        if current:
            requests.append(current)
        rounds.append([[sign_xml(build_receipts([row.receipt for row in document]), identity)
                        for document in documents(rows, size=records)] for rows in requests])
    return rounds, receipts


async def run(args: argparse.Namespace, report: list[str]) -> None:
    run_id = uuid.uuid4().hex[:6]
    tmp = Path(tempfile.mkdtemp(prefix="micro-receipts-"))
    server = NatsServer()
    server.start()
    url, database = await fresh_database(args.db, tmp)
    customs_pair, authority_pair = ensure_pair(tmp, "customs"), ensure_pair(tmp, "authority")
    settings = CustomsSettings(
        database_url=url, nats_url=server.url, migrate_on_start=False, run_workers=False, log_level=args.log_level,
        log_file=str(tmp / "customs.jsonl"), random_inspection_rate=0,
        signing_key_file=customs_pair.key_file, signing_cert_file=customs_pair.cert_file,
        authority_cert_file=authority_pair.cert_file)
    identity = SigningIdentity.from_files(authority_pair.key_file, authority_pair.cert_file)
    try:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            await measure(app, args, run_id, identity, report)
    finally:
        server.cleanup()
        await drop_database(database)
        shutil.rmtree(tmp, ignore_errors=True)


async def measure(app, args: argparse.Namespace, run_id: str, identity: SigningIdentity, report: list[str]) -> None:
    runtime = app.state.runtime
    config = runtime.extras["customs"]
    await file_parcels(runtime, config, args.parcels, run_id)
    rounds, receipts = await plan_rounds(runtime, config, identity, args.batch, args.records)
    key_id, key = generate_key("authority")
    async with runtime.db.transaction() as session:
        await runtime.api_keys.insert(session, key_id=key_id, key=key, role="authority", owner="customs-authority",
                                      name="bench")
    principal = Principal(key_id=key_id, role="authority", owner="customs-authority", name="bench")
    kinds: Counter = Counter()

    @event.listens_for(runtime.db.engine.sync_engine, "before_cursor_execute")
    def _count(_conn, _cursor, statement: str, *_args) -> None:
        kinds[statement_kind(statement)] += 1

    profiler = cProfile.Profile(time.process_time) if args.profile else None
    outcomes: Counter = Counter()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://customs") as client:
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # The authority's side of each request, made before measuring: the JSON of base64 bodies.
        payloads = [[json.dumps({"receipts": [base64.b64encode(b).decode("ascii") for b in bodies]}).encode()
                     for bodies in requests] for requests in rounds]
        # FastAPI prepares a route on its first request: not a per-receipt cost.
        assert (await client.post("/v1/receipts/batch", headers=headers, content=b'{"receipts": []}')
                ).status_code == 422
        kinds.clear()
        cpu, wall = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        for requests, contents in zip(rounds, payloads, strict=True):
            for bodies, content in zip(requests, contents, strict=True):
                if args.via == "api":
                    response = await client.post("/v1/receipts/batch", headers=headers, content=content)
                    results = response.json()["results"]
                    outcomes.update(x.get("outcome") or x.get("code") for r in results for x in r.get("records") or [r])
                else:
                    answer = await receipts_batch.receive_batch(runtime, config, bodies, principal=principal)
                    outcomes.update(x.outcome or x.code for r in answer.results for x in r.records or [r])
        if profiler:
            profiler.disable()
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    async with runtime.db.reader() as session:
        statuses = dict((await session.execute(select(Declaration.status, func.count())
                                               .group_by(Declaration.status))).all())
        kept = (await session.execute(select(func.count()).select_from(Receipt))).scalar_one()
    requests = sum(len(r) for r in rounds)
    statements = sum(kinds.values())
    report.append(f"micro_receipts: {args.db}, {args.parcels} parcels, {receipts} receipts in {requests} requests "
          f"(up to {args.batch}; documents of up to {args.records} records), via {args.via}")
    report.append(f"outcomes: {dict(outcomes)}; receipts kept: {kept}; declarations: {statuses}")
    report.append(f"CPU {cpu * 1000 / receipts:.3f} ms/receipt, wall {wall * 1000 / receipts:.3f} ms/receipt, "
          f"{statements / receipts:.2f} statements/receipt ({statements / requests:.1f}/request)")
    if args.statements:
        for kind, count in kinds.most_common():
            report.append(f"  {count / receipts:6.2f}  {kind}")
    if profiler:
        profiler.dump_stats(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--parcels", type=int, default=300)
    parser.add_argument("--batch", type=int, default=50, help="receipts per request (the authority's receipt_batch)")
    parser.add_argument("--records", type=int, default=10,
                        help="receipts per signed document (the authority's receipt_records)")
    parser.add_argument("--via", choices=["api", "direct"], default="api")
    parser.add_argument("--log-level", default="WARNING")
    parser.add_argument("--profile", metavar="FILE", help="write cProfile stats of the measured part to FILE")
    parser.add_argument("--statements", action="store_true", help="list the statements by kind and table")
    args = parser.parse_args()
    report: list[str] = []
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # the service logs to stdout too
        asyncio.run(run(args, report))
    print("\n".join(report))


if __name__ == "__main__":
    main()
