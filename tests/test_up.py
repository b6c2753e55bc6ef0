"""`silkgate up --demo` as a newcomer runs it: the services come up, demo parcels flow, SIGTERM stops everything
with no orphan process, and running it again keeps the data."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from shared.natsserver import free_port

SERVICES = ("ORDERS", "CUSTOMS", "POSTAL", "CARRIER", "AUTHORITY")


def processes_of(data_dir: Path) -> list[int]:
    """Live processes started for this data directory (they carry SILKGATE_DATA_DIR in their environment)."""
    marker = f"SILKGATE_DATA_DIR={data_dir}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start_up(tmp_path: Path, env: dict[str, str], *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "shared.cli", "up", "--data-dir", str(tmp_path / "var"), *extra],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=tmp_path)


def read_until(process: subprocess.Popen, needle: str, timeout: float) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    buffer = b""
    while time.monotonic() < deadline:
        chunk = process.stdout.read() or b""
        buffer += chunk
        *complete, buffer = buffer.split(b"\n")
        lines += [line.decode(errors="replace") for line in complete]
        if any(needle in line for line in lines):
            return lines
        if process.poll() is not None:
            break
        time.sleep(0.2)
    raise AssertionError(f"{needle!r} not seen; output:\n" + "\n".join(lines[-60:]))


def test_up_runs_the_demo_stops_cleanly_and_keeps_its_data(tmp_path):
    env = {**os.environ, "SILKGATE_EMBEDDED_NATS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1"}
    for service in SERVICES:
        env[f"SILKGATE_{service}_PORT"] = str(free_port())
    env["SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S"] = "2"
    env["SILKGATE_POSTAL_MAX_DISPATCH_AGE_S"] = "1"
    env["SILKGATE_CARRIER_STEP_INTERVAL_S"] = "0.3"
    data_dir = (tmp_path / "var").resolve()

    first = start_up(tmp_path, env, "--demo")
    try:
        lines = read_until(first, "mail parcel to Almaty: delivered", timeout=150)
    finally:
        first.send_signal(signal.SIGTERM)
        assert first.wait(30) == 0
    assert any("silkgate: up" in line for line in lines)
    console = f"http://127.0.0.1:{env['SILKGATE_CUSTOMS_PORT']}/console/"
    assert any(f"brokers' console {console}" in line for line in lines)
    assert any("demo: broker key   sg_broker_" in line for line in lines)
    assert processes_of(data_dir) == [], "no orphan process may survive SIGTERM"
    for name in ("orders", "customs", "postal"):
        assert (data_dir / "log" / f"{name}.jsonl").stat().st_size > 0

    keys = json.loads((data_dir / "demo-keys.json").read_text())
    second = start_up(tmp_path, env)
    try:
        read_until(second, "silkgate: up", timeout=60)
        orders = httpx.get(f"http://127.0.0.1:{env['SILKGATE_ORDERS_PORT']}/v1/orders",
                           headers={"Authorization": f"Bearer {keys['merchant']}"}, params={"limit": 100}).json()
        assert len(orders["data"]) == 9, "the demo's orders survive a restart"
        # Three of them wait in the brokers' queue for a newcomer to work in the console.
        queue = httpx.get(f"http://127.0.0.1:{env['SILKGATE_CUSTOMS_PORT']}/v1/declarations",
                          headers={"Authorization": f"Bearer {keys['broker']}"},
                          params={"limit": 100, "needs_broker": True}).json()
        waiting = sorted(d["merchant_order_no"].rsplit("-", 1)[1] for d in queue["data"])
        assert waiting == ["Q1", "Q2", "Q3"]
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert processes_of(data_dir) == []


def test_up_fails_fast_when_a_port_is_taken(tmp_path):
    import socket

    env = {**os.environ, "SILKGATE_EMBEDDED_NATS_PORT": str(free_port())}
    for service in SERVICES:
        env[f"SILKGATE_{service}_PORT"] = str(free_port())
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", int(env["SILKGATE_ORDERS_PORT"])))
        holder.listen()
        result = subprocess.run([sys.executable, "-m", "shared.cli", "up", "--data-dir", str(tmp_path / "var")],
                                env=env, capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert result.returncode != 0
    assert f"orders {env['SILKGATE_ORDERS_PORT']}" in result.stdout + result.stderr
