"""The pipeline benchmark: the real stack, a stream of orders, throughput, latency, lag, CPU, and the machine's limits.

    python -m bench.run --db sqlite --duration 60               # as fast as it can (back-pressure bounds the backlog)
    python -m bench.run --db postgres --rate 400 --duration 60  # a fixed offered rate
    python -m bench.run --db sqlite --flood --duration 60       # one merchant floods, others at a steady rate

Results: bench/results/<run>.json, a table on stdout, and a PNG of throughput, latency and lag over the run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Awaitable
from pathlib import Path

import httpx

from bench.limits import postgres_limits, python_floor, sqlite_limits
from bench.observer import Observer, raw_insert_rate, raw_publish_rate
from bench.orders import is_held, order_body, payment_items
from shared.stack import Stack

RESULTS = Path(__file__).resolve().parent / "results"
# The partners' sandboxes and the load generator: they share the machine but are not silkgate's cost.
NOT_SILKGATE = ("bench-load-generator", "carrier", "authority")
DEFAULT_POSTGRES_TCP = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
POSTGRES_SOCKET_DIR = Path("/var/run/postgresql")


def default_postgres_url() -> str:
    """The machine's PostgreSQL through its Unix socket when it has one: the services run beside the database, and
    a socket costs both sides less CPU per round trip than TCP over loopback (~0.6 ms per order here)."""
    if (POSTGRES_SOCKET_DIR / ".s.PGSQL.5432").exists():
        return f"postgresql+asyncpg://postgres@/test?host={POSTGRES_SOCKET_DIR}"
    return DEFAULT_POSTGRES_TCP


class Load:
    """Offers orders at a fixed rate, or as fast as the system accepts them, single and batched."""

    def __init__(self, stack: Stack, args: argparse.Namespace, run: str) -> None:
        self.stack, self.args, self.run = stack, args, run
        self.next_n = 0
        self.accepted = 0
        self.throttled = 0
        self.errors: dict[str, int] = {}
        self.accept_times: list[float] = []
        self.payments = 0  # recorded by the payment provider (its own key, POST /v1/payments/batch)

    def take(self, count: int) -> list[int]:
        numbers = list(range(self.next_n, self.next_n + count))
        self.next_n += count
        return numbers

    def body(self, n: int) -> dict:
        return order_body(n, self.run, held=is_held(n, self.args.held_share))

    async def send_single(self, client: httpx.AsyncClient, n: int) -> None:
        body = self.body(n)
        while True:
            response = await client.post("/v1/orders", json=body, headers={"Idempotency-Key": body["merchant_order_no"]})
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            self._count(response.status_code, 1)
            if response.status_code == 201 and body.get("payment") is not None:
                await self.pay(client, [{"order_id": response.json()["id"], "payment": body["payment"]}])
            return

    async def send_batch(self, client: httpx.AsyncClient, numbers: list[int]) -> None:
        orders = [self.body(n) for n in numbers]
        key = f"batch-{self.run}-{numbers[0]}"
        while True:
            response = await client.post("/v1/orders/batch", json={"orders": orders}, headers={"Idempotency-Key": key},
                                         timeout=60)
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code >= 300:
                self._count(response.status_code, len(numbers))
                return
            results = response.json().get("results", [])
            for result in results:
                self._count(result.get("status", 0), 1)
            await self.pay(client, payment_items(orders, results))
            return

    async def pay(self, client: httpx.AsyncClient, items: list[dict]) -> None:
        """The payment provider sends the payments of the e-commerce orders just accepted, in one batch: customs
        waits for the provider's payment document, never takes the order's own claim for it."""
        if not items:
            return
        headers = {"Authorization": f"Bearer {self.stack.keys['payment']}"}
        response = await client.post("/v1/payments/batch", json={"payments": items}, headers=headers, timeout=60)
        if response.status_code != 200:
            key = f"payments {response.status_code}"
            self.errors[key] = self.errors.get(key, 0) + 1
            return
        self.payments += sum(1 for r in response.json()["results"] if r["status"] in (200, 201))

    def _count(self, status: int, count: int) -> None:
        if status == 201:
            self.accepted += count
            self.accept_times.extend([time.time()] * count)
        else:
            self.errors[str(status)] = self.errors.get(str(status), 0) + count

    async def offer(self, duration: float) -> None:
        headers = {"Authorization": f"Bearer {self.stack.keys['merchant']}"}
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=self.stack.url("orders"), headers=headers, timeout=30, limits=limits) as client:
            deadline = time.monotonic() + duration
            if self.args.rate:
                await self._fixed_rate(client, deadline)
            else:
                await asyncio.gather(*(self._as_fast_as_possible(client, deadline) for _ in range(self.args.clients)))

    def _unit(self, client: httpx.AsyncClient) -> Awaitable[None]:
        """One unit of work: a batch (with probability batch_share, weighted by orders) or a single order.

        The order numbers are taken now, before the request is scheduled, so the fixed-rate loop sees them taken."""
        if self.next_n % 100 < self.args.batch_share * 100:
            return self.send_batch(client, self.take(self.args.batch_size))
        return self.send_single(client, self.take(1)[0])

    async def _as_fast_as_possible(self, client: httpx.AsyncClient, deadline: float) -> None:
        while time.monotonic() < deadline:
            await self._unit(client)

    async def _fixed_rate(self, client: httpx.AsyncClient, deadline: float) -> None:
        pending: set[asyncio.Task] = set()
        started = time.monotonic()
        while time.monotonic() < deadline:
            due = int((time.monotonic() - started) * self.args.rate)
            while self.next_n < due:
                pending.add(asyncio.create_task(self._unit(client)))
            pending = {t for t in pending if not t.done()}
            await asyncio.sleep(0.01)
        await asyncio.gather(*pending)


class SteadyMerchant:
    """A merchant sending single orders at a steady rate while another floods (--flood): its latency is what
    fairness protects. Records its 201s' order ids and every 429."""

    def __init__(self, code: str, key: str, rate: float, run: str) -> None:
        self.code, self.key, self.rate, self.run = code, key, rate, run
        self.order_ids: list[str] = []
        self.throttled = 0
        self.errors: dict[str, int] = {}

    async def offer(self, base_url: str, duration: float) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            pending: set[asyncio.Task] = set()
            started = time.monotonic()
            sent = 0
            while time.monotonic() - started < duration:
                while sent < int((time.monotonic() - started) * self.rate) + 1:
                    pending.add(asyncio.create_task(self._send(client, sent)))
                    sent += 1
                pending = {t for t in pending if not t.done()}
                await asyncio.sleep(0.02)
            await asyncio.gather(*pending)

    async def _send(self, client: httpx.AsyncClient, n: int) -> None:
        body = order_body(n, f"{self.run}{self.code}", held=False)
        while True:
            response = await client.post("/v1/orders", json=body, headers={"Idempotency-Key": body["merchant_order_no"]})
            if response.status_code == 429:
                self.throttled += 1
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status_code == 201:
                self.order_ids.append(response.json()["id"])
            else:
                self.errors[str(response.status_code)] = self.errors.get(str(response.status_code), 0) + 1
            return


async def steady_merchants(stack: Stack, args: argparse.Namespace, run: str) -> list[SteadyMerchant]:
    """Keys for the steady merchants of --flood (the stack's merchant M001 is the one flooding)."""
    from shared.keys import create_key
    from shared.stack import patched_env

    merchants = []
    with patched_env(stack.env):
        for index in range(1, args.steady_merchants + 1):
            code = f"S{index:03d}"
            _, key = await create_key(role="merchant", owner=code, name=f"steady merchant {index}")
            merchants.append(SteadyMerchant(code, key, args.steady_rate, run))
    return merchants


def steady_report(observer: Observer, merchants: list[SteadyMerchant]) -> dict:
    ids = {order_id for merchant in merchants for order_id in merchant.order_ids}
    chosen = [m for order_id, m in observer.milestones.items() if order_id in ids and "accepted" in m]

    def lat(target: str) -> dict[str, float | None]:
        return percentiles([m[target] - m["accepted"] for m in chosen if target in m])

    return {"merchants": [m.code for m in merchants], "rate_per_merchant": merchants[0].rate if merchants else 0,
            "accepted_orders": len(ids), "throttled_responses_429": sum(m.throttled for m in merchants),
            "errors": {k: sum(m.errors.get(k, 0) for m in merchants) for m in merchants for k in m.errors},
            "latency_s": {"accepted_to_waybill_issued": lat("waybill_issued"),
                          "accepted_to_released": lat("released"), "accepted_to_handed_off": lat("handed_off")}}


def percentiles(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "count": 0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 4)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "count": len(ordered)}


def latencies(observer: Observer, target: str) -> list[float]:
    return [m[target] - m["accepted"] for m in observer.milestones.values() if "accepted" in m and target in m]


def completed_from_window(observer: Observer, start: float, end: float) -> int:
    return sum(1 for m in observer.milestones.values()
               if "handed_off" in m and "accepted" in m and start <= m["accepted"] <= end)


def rate_in_window(times: list[float], start: float, end: float) -> float:
    inside = [t for t in times if start <= t <= end]
    return len(inside) / max(end - start, 1e-9)


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


def report(args, load: Load, observer: Observer, limits: dict, started: float, ended: float, root: Path,
           steady: dict | None = None) -> dict:
    window = (started + args.warmup, ended)
    # CPU while the load was offered (after the warm-up): what carrying it costs each process.
    in_window = [s for s in observer.samples if window[0] <= s["t"] <= window[1]] or observer.samples
    first, last = in_window[0], in_window[-1]
    cpu = {name: round((last["cpu_s"][name] - first["cpu_s"].get(name, 0)) / max(last["t"] - first["t"], 1e-9), 3)
           for name in last["cpu_s"]}
    handed = observer.observed_at.get("handed_off", [])
    released = observer.observed_at.get("released", [])
    result = {
        "config": vars(args),
        "limits": limits,
        "offered_orders": load.next_n,
        "accepted_orders": load.accepted,
        "payments_recorded": load.payments,
        "throttled_responses_429": load.throttled,
        "errors": load.errors,
        "intake_orders_per_s": round(rate_in_window(load.accept_times, *window), 1),
        "released_per_s": round(rate_in_window(released, *window), 1),
        "handed_off_in_window_per_s": round(rate_in_window(handed, *window), 1),
        # Parcels accepted during the window that reached handed_off (during the run or the drain), per second of
        # window: what the pipeline carried end to end at the offered load.
        "end_to_end_handed_off_per_s": round(completed_from_window(observer, *window) / max(window[1] - window[0], 1e-9), 1),
        "handed_off_total": len(handed),
        "latency_s": {
            "accepted_to_waybill_issued": percentiles(latencies(observer, "waybill_issued")),
            "accepted_to_released": percentiles(latencies(observer, "released")),
            "accepted_to_handed_off": percentiles(latencies(observer, "handed_off")),
        },
        "cpu_cores_per_process": cpu,
        # Divided by the intake rate: the CPU each accepted order costs every process, the pipeline's real budget.
        "cpu_ms_per_order": {name: round(cores * 1000 / max(rate_in_window(load.accept_times, *window), 1e-9), 2)
                             for name, cores in cpu.items()},
        "max_consumer_lag": max(sum(s["consumer_lag"].values()) for s in observer.samples),
        "max_outbox_lag": max(sum(s["outbox_lag"].values()) for s in observer.samples),
        "timeseries": observer.samples,
    }
    if steady is not None:
        result["steady_merchants"] = steady
    own = {name: ms for name, ms in result["cpu_ms_per_order"].items() if name not in NOT_SILKGATE}
    result["cpu_ms_per_order_silkgate"] = round(sum(own.values()), 2)
    # The same over the whole run, load and drain, per accepted order: when the pipeline is behind, the window's
    # CPU is spent on older orders (and a throttled intake divides it by few), which this figure does not suffer.
    whole = observer.samples[-1]["cpu_s"]
    start = observer.samples[0]["cpu_s"]
    result["cpu_ms_per_order_whole_run"] = {
        name: round((whole[name] - start.get(name, 0)) * 1000 / max(load.accepted, 1), 2) for name in whole}
    result["cpu_ms_per_order_whole_run_silkgate"] = round(sum(
        ms for name, ms in result["cpu_ms_per_order_whole_run"].items() if name not in NOT_SILKGATE), 2)
    result["drained"] = len(handed) >= 0.999 * sum(1 for m in observer.milestones.values() if "accepted" in m
                                                    and "held" not in m)
    result["ratios"] = ratios(result, limits)
    RESULTS.mkdir(exist_ok=True)
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{args.db}"
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2, default=str))
    plot(result, RESULTS / f"{name}.png", started)
    print_table(result, RESULTS / f"{name}.json")
    return result


def ratios(result: dict, limits: dict) -> dict:
    """The pipeline against the machine's limits: parcels handed off per second over each raw rate, and the CPU one
    order costs silkgate over the Python floor of one event."""
    handed = result["end_to_end_handed_off_per_s"]
    out = {"handed_off_per_raw_insert_tx": round(handed / (limits["insert_tx_per_s"] or 1), 4),
           "handed_off_per_raw_publish": round(handed / (limits["jetstream_publish_per_s"]["pipelined"] or 1), 4)}
    for kind, rate in limits.get("concurrent_tx_per_s", {}).items():
        out[f"handed_off_per_concurrent_tx[{kind}]"] = round(handed / (rate or 1), 4)
    for kind, rate in limits.get("batched_rows_per_s", {}).items():
        out[f"handed_off_per_batched_rows[{kind}]"] = round(handed / (rate or 1), 4)
    floor = (limits.get("python_floor") or {}).get("mean_ms_per_event")
    if floor:
        out["cpu_per_order_over_python_floor"] = round(result["cpu_ms_per_order_silkgate"] / floor, 1)
    return out


def print_table(result: dict, path: Path) -> None:
    lat = result["latency_s"]
    rows = [
        ("intake orders/s", result["intake_orders_per_s"]),
        ("released/s", result["released_per_s"]),
        ("end-to-end handed_off/s (accepted in window)", result["end_to_end_handed_off_per_s"]),
        ("handed_off/s during the window", result["handed_off_in_window_per_s"]),
        ("accepted→waybill p50/p95/p99 s", _triple(lat["accepted_to_waybill_issued"])),
        ("accepted→released p50/p95/p99 s", _triple(lat["accepted_to_released"])),
        ("accepted→handed_off p50/p95/p99 s", _triple(lat["accepted_to_handed_off"])),
        ("max consumer lag / outbox lag", f"{result['max_consumer_lag']} / {result['max_outbox_lag']}"),
        ("429 responses", result["throttled_responses_429"]),
        ("raw insert tx/s", result["limits"]["insert_tx_per_s"]),
        ("raw JetStream publish/s seq/pipelined", "{sequential} / {pipelined}".format(**result["limits"]["jetstream_publish_per_s"])),
        ("handed_off/s ÷ raw insert tx/s", result["ratios"]["handed_off_per_raw_insert_tx"]),
        ("concurrent single-row tx/s", _pairs(result["limits"].get("concurrent_tx_per_s", {}))),
        ("batched rows/s", _pairs(result["limits"].get("batched_rows_per_s", {}))),
        ("Python floor ms/event (decode+validate+encode)",
         (result["limits"].get("python_floor") or {}).get("mean_ms_per_event")),
        ("ratios", _pairs({k: v for k, v in result["ratios"].items() if k != "handed_off_per_raw_insert_tx"})),
        ("CPU cores by process", ", ".join(f"{k}={v}" for k, v in sorted(result["cpu_cores_per_process"].items()))),
        ("CPU ms per order by process", ", ".join(f"{k}={v}" for k, v in sorted(result["cpu_ms_per_order"].items()))),
        ("CPU ms per order, silkgate's own processes", result["cpu_ms_per_order_silkgate"]),
        ("  … over the whole run (load + drain) by process", ", ".join(
            f"{k}={v}" for k, v in sorted(result["cpu_ms_per_order_whole_run"].items()))),
        ("  … over the whole run, silkgate's own; drained", f"{result['cpu_ms_per_order_whole_run_silkgate']}; "
                                                          f"{result['drained']}"),
    ]
    steady = result.get("steady_merchants")
    if steady:
        lat_steady = steady["latency_s"]
        rows += [
            ("steady merchants (while M001 floods)", f"{len(steady['merchants'])} × {steady['rate_per_merchant']}/s, "
                                                     f"{steady['accepted_orders']} accepted"),
            ("  their 429 responses", steady["throttled_responses_429"]),
            ("  accepted→released p50/p95/p99 s", _triple(lat_steady["accepted_to_released"])),
            ("  accepted→handed_off p50/p95/p99 s", _triple(lat_steady["accepted_to_handed_off"])),
        ]
    width = max(len(r[0]) for r in rows)
    print("\n" + "\n".join(f"{label:<{width}}  {value}" for label, value in rows))
    print(f"\nresults: {path}")


def _pairs(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _triple(p: dict) -> str:
    return f"{p['p50']} / {p['p95']} / {p['p99']}  (n={p['count']})"


def plot(result: dict, path: Path, started: float) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib not installed (pip install -e '.[bench]'); no plot")
        return
    samples = result["timeseries"]
    t = [s["t"] - started for s in samples]

    def per_second(key: str) -> list[float]:
        counts = [s["counts"].get(key, 0) for s in samples]
        return [0.0] + [(b - a) / max(t2 - t1, 1e-9) for a, b, t1, t2 in zip(counts, counts[1:], t, t[1:])]

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for key in ("accepted", "released", "handed_off"):
        ax1.plot(t, per_second(key), label=f"{key}/s")
    ax1.set_ylabel("events per second")
    ax1.legend()
    ax1.set_title(f"silkgate pipeline ({result['config']['db']})")
    ax2.plot(t, [sum(s["consumer_lag"].values()) for s in samples], label="consumer lag")
    ax2.plot(t, [sum(s["outbox_lag"].values()) for s in samples], label="outbox lag")
    ax2.set_ylabel("messages")
    ax2.set_xlabel("seconds since the load started")
    ax2.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"bench: plot {path}")


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
