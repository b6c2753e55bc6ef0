"""Micro-benchmark of the sandbox authority: the real app in this process, a fresh database, a fake customs.

    python -m bench.micro_authority --orders 1500 --rate 300
    python -m bench.micro_authority --db postgres --orders 1500 --rate 300   # a database of its own, dropped after
    python -m bench.micro_authority --orders 900 --rate 100 --burst-s 0.05   # as customs' gateway sends rounds
    python -m bench.micro_authority --orders 600 --profile authority.prof

Orders as the pipeline makes them (bench.orders: a third each mail, express, e-commerce import), each built into
the messages customs files (CUSITM, EXPMANIFEST, CEB311 + CEB621: 4 messages per 3 orders), signed with customs'
key and wrapped in the transport envelope exactly as customs' gateway sends them — all before measuring. Then, with
the receipt poster running and the stack's delays (shared.stack.AUTHORITY_DELAYS), messages are filed at `--rate`
orders/s (16 requests at a time; evenly spread, or with --burst-s in rounds as customs' gateway sends them) through
httpx.ASGITransport until every planned receipt has reached the fake customs (an httpx.MockTransport that answers
each receipt 200 without checking it). The client's and the fake customs' CPU count too (~10% of the total).

Prints CPU ms (time.process_time of this process, idle polling included) per order, per message and per receipt,
for the filing phase and for the whole run; logging is configured as a served process does (JSON lines to a file).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import json
import os
import shutil
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TextIO

import httpx
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bench.orders import order_body
from services.authority.app import create_app
from services.authority.models import receipts
from services.authority.settings import AuthoritySettings
from services.customs.gateway import HttpAuthorityAdapter
from services.customs.messages import Declarant, FilingFacts, FilingLine, build_filing
from shared.ceb.signing import SigningIdentity
from shared.certificates import ensure_pair
from shared.contract.parcel import Parcel
from shared.logging import cache_loggers
from shared.stack import AUTHORITY_DELAYS

DEFAULT_POSTGRES = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
API_KEY = "sg_authority_bench"
FORMS = {"mail": "CN23", "express": "express_C", "ecommerce": "inventory_list"}


def filing_facts(n: int, run: str) -> FilingFacts:
    """Order n of the run as customs files it (mail and express export, e-commerce import)."""
    parcel = Parcel.model_validate(order_body(n, run, held=False))
    tracking = {"mail": f"RR{n % 100_000_000:08d}0CN", "express": f"SGX{n:010d}", "ecommerce": f"SGE{n:09d}CN"}
    return FilingFacts(
        declaration_id=f"dcl_{run}{n:018d}"[:30], order_id=f"ord_{run}{n:08d}", app_type=1,
        app_time=datetime.now(UTC), channel=parcel.channel, direction=parcel.direction,
        merchant_code="kashgar-trading", merchant_name=parcel.sender.name, parcel=parcel,
        lines=tuple(FilingLine.from_order_line(line) for line in parcel.lines), form=FORMS[parcel.channel],
        trade_mode=parcel.trade_mode, tracking_number=tracking[parcel.channel], payment=parcel.payment,
        pay_code="Alipay" if parcel.payment else None, pay_name="Alipay" if parcel.payment else None,
        tax_total=parcel.tax, note=f"silkgate order ord_{run}{n:08d}")


class FakeCustoms:
    """customs' POST /v1/receipts/batch (and /v1/receipts) taking everything: counts what it gets."""

    def __init__(self) -> None:
        self.receipts = 0
        self.requests = 0
        self.transport = httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.url.path == "/v1/receipts/batch":
            count = len(json.loads(request.content)["receipts"])
            self.receipts += count
            return httpx.Response(200, json={"results": [{"status": 200, "outcome": "applied"}] * count})
        self.receipts += 1
        return httpx.Response(200, json={"status": 200, "outcome": "applied"})


async def fresh_database(kind: str, directory: Path) -> tuple[str, str | None]:
    """A SQLite file, or a new PostgreSQL database micro_authority_<random>; returns (url, database to drop)."""
    if kind == "sqlite":
        return f"sqlite+aiosqlite:///{directory / 'authority.db'}", None
    admin_url = os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES)
    name = f"micro_authority_{uuid.uuid4().hex[:8]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


async def drop_database(name: str | None) -> None:
    if name is None:
        return
    admin = create_async_engine(os.environ.get("SILKGATE_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
                                isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


async def run(args: argparse.Namespace, quiet: TextIO) -> None:
    directory = Path(tempfile.mkdtemp(prefix="micro_authority_"))
    url, database = await fresh_database(args.db, directory)
    try:
        await _run(args, directory, quiet, url)
    finally:
        await drop_database(database)
        shutil.rmtree(directory, ignore_errors=True)


async def _run(args: argparse.Namespace, directory: Path, quiet: TextIO, url: str) -> None:
    customs_pair = ensure_pair(directory / "certs", "customs")
    authority_pair = ensure_pair(directory / "certs", "authority")
    identity = SigningIdentity.from_files(customs_pair.key_file, customs_pair.cert_file)
    declarant = Declarant()
    run_id = uuid.uuid4().hex[:6]
    adapter = HttpAuthorityAdapter("http://authority", sender_id=declarant.dxp_id)
    bodies: list[list[bytes]] = []  # per order, its requests in filing order
    for n in range(args.orders):
        messages = build_filing(filing_facts(n, run_id), declarant, identity)
        bodies.append([adapter.envelope(message) for message in messages])
    await adapter.aclose()
    message_count = sum(len(b) for b in bodies)

    delays = {key.removeprefix("SILKGATE_AUTHORITY_").lower(): float(value) for key, value in AUTHORITY_DELAYS.items()}
    settings = AuthoritySettings(
        database_url=url, customs_url="http://customs", api_key=API_KEY,
        signing_key_file=str(authority_pair.key_file), signing_cert_file=str(authority_pair.cert_file),
        declarant_cert_file=str(customs_pair.cert_file), log_level="INFO",
        log_file=str(directory / "authority.jsonl"), **delays)
    customs = FakeCustoms()
    cache_loggers()
    app = create_app(settings, customs_transport=customs.transport, configure_logs=True)
    profiler = cProfile.Profile() if args.profile else None
    real_stdout = sys.stdout
    sys.stdout = quiet  # the served process writes its JSON lines to a pipe; here they go nowhere
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://authority") as client:
                result = await _measure(args, app, client, bodies, customs, profiler)
    finally:
        sys.stdout = real_stdout
    if profiler is not None:
        profiler.dump_stats(args.profile)
    filed_cpu, filed_wall, total_cpu, total_wall, planned, refused = result
    orders = args.orders
    print(f"authority micro-benchmark: {orders} orders, {message_count} messages, {planned} receipts, db={args.db}, "
          f"offered at {args.rate:g} orders/s{f' in bursts of {args.burst_s:g} s' if args.burst_s else ''}; "
          f"refused {refused}")
    print(f"  filing phase : {filed_wall:6.2f} s wall, {filed_cpu * 1000 / orders:6.3f} ms CPU/order, "
          f"{filed_cpu * 1000 / message_count:6.3f} ms CPU/message (receipt poster running meanwhile)")
    print(f"  whole run    : {total_wall:6.2f} s wall, {total_cpu * 1000 / orders:6.3f} ms CPU/order, "
          f"{total_cpu * 1000 / message_count:6.3f} ms CPU/message, {total_cpu * 1000 / max(planned, 1):6.3f} "
          f"ms CPU/receipt; {customs.requests} receipt requests")
    print(f"  capacity     : ~{orders / total_cpu:,.0f} orders/s per core at this CPU cost")


async def _measure(args: argparse.Namespace, app, client: httpx.AsyncClient, bodies: list[list[bytes]],
                   customs: FakeCustoms, profiler: cProfile.Profile | None):
    limit = asyncio.Semaphore(16)
    refused = 0

    async def file(order: list[bytes]) -> None:
        nonlocal refused
        for body in order:  # one order's messages in filing order (CEB311 before CEB621)
            async with limit:
                response = await client.post("/v1/messages", content=body,
                                             headers={"Content-Type": "application/json"})
            if response.status_code != 200:
                refused += 1
                if refused <= 3:
                    print(response.status_code, response.text[:300], file=sys.stderr)

    await asyncio.sleep(0.3)  # the poster's first idle round, before measuring
    if profiler is not None:
        profiler.enable()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    tasks = []
    for n, order in enumerate(bodies):
        offered = n / args.rate
        if args.burst_s:  # customs' gateway sends what a round leased at once
            offered = offered // args.burst_s * args.burst_s
        pause = wall0 + offered - time.perf_counter()
        if pause > 0:
            await asyncio.sleep(pause)
        tasks.append(asyncio.create_task(file(order)))
    await asyncio.gather(*tasks)
    filed_cpu, filed_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    db = app.state.db
    while True:
        async with db.reader() as session:
            planned = (await session.execute(select(func.count()).select_from(receipts)
                                             .where(receipts.c.state == "planned"))).scalar_one()
            total = (await session.execute(select(func.count()).select_from(receipts))).scalar_one()
        if planned == 0 and customs.receipts >= total:
            break
        await asyncio.sleep(0.05)
    total_cpu, total_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if profiler is not None:
        profiler.disable()
    return filed_cpu, filed_wall, total_cpu, total_wall, total, refused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=1500)
    parser.add_argument("--rate", type=float, default=300.0, help="orders offered per second")
    parser.add_argument("--burst-s", type=float, default=0.0,
                        help="file the orders of each such window together, as customs' gateway sends a round "
                             "(default: evenly spread, the worst case for batching)")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--profile", help="write cProfile stats of the measured part here")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt), open(os.devnull, "w") as quiet:
        asyncio.run(run(args, quiet))


if __name__ == "__main__":
    main()
