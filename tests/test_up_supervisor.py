"""`silkgate up` keeps the system up: each child SIGKILLed under load is started again (said on the console and in
var/log/supervisor.jsonl) and every parcel still reaches its final state; a child that keeps crashing makes `up`
give up and stop; SIGTERM stops the services before nats-server, so no service warns of a lost broker."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.natsserver import free_port
from tests.e2e.journey import order
from tests.test_up import processes_of, start_up

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROCESSES = ("ORDERS", "CUSTOMS", "POSTAL", "CARRIER")
CHILDREN = ("orders", "orders-worker", "customs", "customs-worker", "postal", "postal-worker", "carrier", "nats-server")


def up_env() -> dict[str, str]:
    env = {**os.environ, "SILKGATE_EMBEDDED_NATS_PORT": str(free_port()), "PYTHONUNBUFFERED": "1",
           "SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S": "1", "SILKGATE_POSTAL_MAX_DISPATCH_AGE_S": "1",
           "SILKGATE_POSTAL_HANDOFF_LEASE_S": "5", "SILKGATE_CARRIER_STEP_INTERVAL_S": "0.3",
           "SILKGATE_CUSTOMS_RANDOM_INSPECTION_RATE": "0"}
    for process in PROCESSES:
        env[f"SILKGATE_{process}_PORT"] = str(free_port())
    for service in ("ORDERS", "CUSTOMS", "POSTAL"):
        env[f"SILKGATE_{service}_CONSUMER_ACK_WAIT_S"] = "5"
        env[f"SILKGATE_{service}_WORKER_METRICS_PORT"] = str(free_port())
    return env


class Console:
    """Reads `up`'s output in the background, so the pipe never fills while the test does other things."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.process = process
        self.lines: list[str] = []
        os.set_blocking(process.stdout.fileno(), False)
        self._buffer = b""
        # `up` blocks when its stdout is full, and its children block behind it: keep reading all the time.
        self._reader = asyncio.get_running_loop().create_task(self._keep_reading())

    async def _keep_reading(self) -> None:
        while self.process.poll() is None:
            self.read()
            await asyncio.sleep(0.2)

    def read(self) -> None:
        chunk = self.process.stdout.read() or b""
        self._buffer += chunk
        *complete, self._buffer = self._buffer.split(b"\n")
        self.lines += [line.decode(errors="replace") for line in complete]

    async def wait_for(self, needle: str, *, after: int = 0, timeout: float = 90) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.read()
            for index in range(after, len(self.lines)):
                if needle in self.lines[index]:
                    return index
            if self.process.poll() is not None:
                self.read()
                break
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} not seen; output:\n" + "\n".join(self.lines[-80:]))


def child_pid(data_dir: Path, name: str) -> int:
    """The live process of one child of `up` (found by its command line)."""
    service, _, role = name.partition("-")
    for pid in processes_of(data_dir):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            continue
        if name == "nats-server" and argv[0].endswith("nats-server"):
            return pid
        if "serve" in argv and argv[argv.index("serve") + 1] == service:
            is_worker = "worker" in argv
            if (role == "worker") == is_worker:
                return pid
    raise AssertionError(f"no live {name} process")


def merchant_key(tmp_path: Path, env: dict[str, str]) -> str:
    result = subprocess.run([sys.executable, "-m", "shared.cli", "keys", "create", "--role", "merchant", "--merchant",
                             "M001", "--name", "Supervisor test"], env={**env, "SILKGATE_DATA_DIR": str(tmp_path / "var")},
                            capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True)
    return next(line.split()[-1] for line in result.stdout.splitlines() if line.startswith("key:"))


async def submit(url: str, key: str, bodies: list[dict], *, over_s: float) -> None:
    """Batches of five spread over `over_s`; a batch cut by a kill is sent again with its Idempotency-Key."""
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        for start in range(0, len(bodies), 5):
            batch = bodies[start:start + 5]
            while True:
                try:
                    response = await client.post("/v1/orders/batch", json={"orders": batch},
                                                 headers={"Idempotency-Key": f"sup-{start}"})
                except httpx.HTTPError:
                    await asyncio.sleep(0.5)
                    continue
                if response.status_code in (429, 503):
                    await asyncio.sleep(1)
                    continue
                assert response.status_code == 200, response.text
                break
            await asyncio.sleep(over_s / (len(bodies) / 5))


async def statuses(url: str, key: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=30) as client:
        cursor = None
        while True:
            params = {"limit": 100, **({"starting_after": cursor} if cursor else {})}
            page = (await client.get("/v1/orders", params=params)).json()
            for item in page["data"]:
                counts[item["status"]] = counts.get(item["status"], 0) + 1
            if not page.get("has_more"):
                return counts
            cursor = page["data"][-1]["id"]


async def test_every_child_killed_under_load_is_restarted_and_every_parcel_arrives(tmp_path):
    env = up_env()
    data_dir = (tmp_path / "var").resolve()
    up = start_up(tmp_path, env)
    console = Console(up)
    try:
        await console.wait_for("silkgate: up")
        key = merchant_key(tmp_path, env)
        orders_url = f"http://127.0.0.1:{env['SILKGATE_ORDERS_PORT']}"
        bodies = [order(("mail", "express")[n % 2]) for n in range(60)]
        load = asyncio.create_task(submit(orders_url, key, bodies, over_s=30))
        seen = 0
        for name in CHILDREN:
            await asyncio.sleep(1.5)
            os.kill(child_pid(data_dir, name), signal.SIGKILL)
            seen = await console.wait_for(f"supervisor.child_exited child={name} exit_code=-9", after=seen)
            seen = await console.wait_for(f"supervisor.restarted child={name} pid=", after=seen)
        await load
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                counts = await statuses(orders_url, key)
            except httpx.HTTPError:
                counts = {}
            if counts.get("delivered") == len(bodies):
                break
            await asyncio.sleep(1)
        assert counts == {"delivered": len(bodies)}
        logged = [json.loads(line) for line in (data_dir / "log" / "supervisor.jsonl").read_text().splitlines()]
        assert {e["child"] for e in logged if e["event"] == "supervisor.restarted"} == set(CHILDREN)

        stopping = len(console.lines)
        up.send_signal(signal.SIGTERM)
        assert up.wait(60) == 0
        console.read()
        after = console.lines[stopping:]
        assert after[-1] == "silkgate: stopped"
        # Services stop first: none of them loses its broker on the way out.
        assert not [line for line in after if "bus.disconnected" in line or "bus.error" in line], after
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert processes_of(data_dir) == []


async def test_a_child_that_keeps_crashing_makes_up_give_up(tmp_path):
    env = up_env()
    data_dir = (tmp_path / "var").resolve()
    up = start_up(tmp_path, env)
    console = Console(up)
    try:
        await console.wait_for("silkgate: up")
        seen = 0
        for crash in range(1, 7):
            os.kill(child_pid(data_dir, "carrier"), signal.SIGKILL)
            if crash <= 5:
                seen = await console.wait_for(f"crash {crash} of 5", after=seen)
                seen = await console.wait_for("supervisor.restarted child=carrier", after=seen)
        await console.wait_for("supervisor.giving_up child=carrier", after=seen)
        assert up.wait(60) == 1
        console.read()
        assert "carrier crashed 6 times within 60 s" in "\n".join(console.lines)
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    assert processes_of(data_dir) == []
