"""The pipeline benchmark: the real stack, a stream of orders, throughput, latency, lag, CPU, and the machine's limits.

    python -m bench.run --db sqlite --duration 60               # as fast as it can (back-pressure bounds the backlog)
    python -m bench.run --db postgres --rate 400 --duration 60  # a fixed offered rate
    python -m bench.run --db sqlite --flood --duration 60       # one merchant floods, others at a steady rate

Results: bench/results/<run>.json, a table on stdout, and a PNG of throughput, latency and lag over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from pathlib import Path

from bench.limits import postgres_limits, python_floor, sqlite_limits
from bench.load import Load, steady_merchants, steady_report
from bench.observer import Observer, raw_insert_rate, raw_publish_rate
from bench.orders import is_held
from bench.report import report
from shared.stack import Stack

DEFAULT_POSTGRES_TCP = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_SOCKET_DIR = Path("/var/run/postgresql")


def default_postgres_url() -> str:
    """The machine's PostgreSQL through its Unix socket when it has one: the services run beside the database, and
    a socket costs both sides less CPU per round trip than TCP over loopback (~0.6 ms per order here)."""
    if (POSTGRES_SOCKET_DIR / ".s.PGSQL.5432").exists():
        return f"postgresql+asyncpg://postgres@/test?host={POSTGRES_SOCKET_DIR}"
    return DEFAULT_POSTGRES_TCP


async def benchmark(args: argparse.Namespace) -> dict:
    run = uuid.uuid4().hex[:6]
    root = Path(tempfile.mkdtemp(prefix=f"silkgate-bench-{run}-"))
    postgres_url = (args.postgres_url or default_postgres_url()) if args.db == "postgres" else ""
    env = {"SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE": str(args.inspection_rate),
           "SILKGATE_ORDERS_MAX_BACKLOG": str(args.max_backlog),
           # A hub closes bags and dispatches on cut-off times; here short ages keep handoffs inside the run.
           "SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S": str(args.consolidation_age),
           "SILKGATE_POSTAL_MAX_DISPATCH_AGE_S": str(args.consolidation_age),
           # After the handoff a parcel's tracking events come over days; the sandbox carrier would otherwise post all
           # six of each parcel's within seconds, inside the run. The run measures the pipeline up to the handoff.
           "SILKGATE_CARRIER_STEP_INTERVAL_S": str(args.carrier_step)}
    for service in ("ORDERS", "CUSTOMS", "POSTAL"):
        env[f"SILKGATE_{service}_LOG_LEVEL"] = args.log_level
    stack = Stack(root, postgres_url=postgres_url, extra_env=env)
    try:
        await stack.start()  # inside the try: a stack that fails to come up is stopped too, leaving no process
        database_urls = {s: stack.env[f"SILKGATE_{s.upper()}_DATABASE_URL"] for s in ("orders", "customs", "postal")}
        print(f"bench: stack up ({args.db}); measuring this machine's raw limits …", flush=True)
        limits = {"insert_tx_per_s": round(await raw_insert_rate(database_urls["orders"].replace("/orders.db", "/raw.db")
                                                                if args.db == "sqlite" else database_urls["orders"]), 1),
                  "jetstream_publish_per_s": {k: round(v, 1) for k, v in (await raw_publish_rate(stack.nats.url)).items()}}
        # insert_tx_per_s above is one connection through the ORM, one row at a time: a latency, not the limit.
        if args.db == "postgres":
            limits.update(await postgres_limits(database_urls["orders"]))
        else:
            limits.update(sqlite_limits(root / "limits.db"))
        observer = Observer(stack.nats.url, database_urls, postgres_databases=list(stack.pg_databases))
        await observer.start()
        pids = {name: p.pid for name, p in stack.processes.items()}
        pids["bench-load-generator"] = os.getpid()  # shares the 2 cores with the system under test
        if stack.nats.process is not None:
            pids["nats-server"] = stack.nats.process.pid
        load = Load(stack, args, run)
        steady = await steady_merchants(stack, args, run) if args.flood else []
        mode = f"fixed {args.rate}/s" if args.rate else f"as fast as it can ({args.clients} clients)"
        if steady:
            mode = (f"M001 flooding {mode}; {len(steady)} steady merchants at {args.steady_rate}/s each")
        print(f"bench: offering orders for {args.duration}s, {mode}, batch share {args.batch_share}", flush=True)
        offer_started = time.time()
        offer = asyncio.ensure_future(asyncio.gather(
            load.offer(args.duration), *(m.offer(stack.url("orders"), args.duration) for m in steady)))
        while not offer.done():
            row = await observer.sample(pids)
            print(f"  t={row['t'] - offer_started:5.0f}s accepted={load.accepted:6d} "
                  f"released={row['counts'].get('released', 0):6d} handed_off={row['counts'].get('handed_off', 0):6d} "
                  f"consumer_lag={sum(row['consumer_lag'].values()):6d} outbox_lag={sum(row['outbox_lag'].values()):5d}",
                  flush=True)
            await asyncio.sleep(1.0)
        await offer
        offer_ended = time.time()
        drain_deadline = time.time() + args.drain
        expected = sum(1 for n in range(load.next_n) if not is_held(n, args.held_share))
        expected += sum(len(m.order_ids) for m in steady)
        while time.time() < drain_deadline and len(observer.observed_at.get("handed_off", [])) < expected * 0.999:
            await observer.sample(pids)
            await asyncio.sleep(1.0)
        await observer.sample(pids)
        await observer.stop()
        limits["python_floor"] = python_floor(observer.raw_events)
        return report(args, load, observer, limits, offer_started, offer_ended, root,
                      steady=steady_report(observer, steady) if steady else None)
    finally:
        await stack.stop()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--postgres-url", default=os.environ.get("SILKGATE_BENCH_POSTGRES_URL", ""))
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of offered load")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds left out of the rates")
    parser.add_argument("--drain", type=float, default=60.0, help="seconds to wait for the pipeline to empty")
    parser.add_argument("--rate", type=float, default=0.0, help="orders/s offered; 0 = as fast as it can")
    parser.add_argument("--clients", type=int, default=16, help="concurrent clients in as-fast-as-it-can mode")
    # Platforms push their orders in batches; single orders (a share of them) come from small merchants.
    parser.add_argument("--batch-share", type=float, default=0.9, help="share of orders sent via /v1/orders/batch")
    parser.add_argument("--batch-size", type=int, default=100)
    parser.add_argument("--held-share", type=float, default=0.05, help="share of orders customs should hold")
    parser.add_argument("--inspection-rate", type=float, default=0.0, help="customs random inspection rate")
    parser.add_argument("--max-backlog", type=int, default=5000, help="intake answers 429 past this backlog")
    parser.add_argument("--consolidation-age", type=float, default=5.0, help="postal receptacle/dispatch max age, s")
    parser.add_argument("--carrier-step", type=float, default=600.0,
                        help="seconds between a parcel's tracking events from the sandbox carrier")
    parser.add_argument("--flood", action="store_true",
                        help="merchant M001 floods (the load above) while --steady-merchants send at --steady-rate")
    parser.add_argument("--steady-merchants", type=int, default=3)
    parser.add_argument("--steady-rate", type=float, default=5.0, help="orders/s per steady merchant")
    parser.add_argument("--log-level", default="WARNING")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    asyncio.run(benchmark(parse_args(argv)))


if __name__ == "__main__":
    main()
