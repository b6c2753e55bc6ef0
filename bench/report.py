"""What a benchmark run measured: percentiles, rates in the window, CPU per order, ratios against the machine's
limits; the results JSON, the table and the plot (bench/run.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING

from bench.observer import Observer

if TYPE_CHECKING:
    from bench.load import Load

RESULTS = Path(__file__).resolve().parent / "results"
# The partners' sandboxes and the load generator: they share the machine but are not silkgate's cost.
NOT_SILKGATE = ("bench-load-generator", "carrier", "authority")


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
