"""A service process fails fast, with a clear message, when its port is taken or its database is unreachable."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from shared.natsserver import free_port


def serve(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "shared.cli", "serve", *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)


def test_serve_refuses_a_taken_port(tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", port))
        holder.listen()
        result = serve({"SILKGATE_DATA_DIR": str(tmp_path), "SILKGATE_CUSTOMS_PORT": str(port)}, "customs")
    assert result.returncode == 2
    assert f"port 127.0.0.1:{port} is already in use" in result.stderr


def test_serve_refuses_an_unreachable_database(tmp_path):
    unreachable = f"postgresql+asyncpg://silkgate:secret@127.0.0.1:{free_port()}/silkgate_postal"
    result = serve({"SILKGATE_DATA_DIR": str(tmp_path), "SILKGATE_POSTAL_PORT": str(free_port()),
                    "SILKGATE_POSTAL_DATABASE_URL": unreachable}, "postal")
    assert result.returncode == 2
    assert "database unreachable" in result.stderr and "secret" not in result.stderr


def test_a_worker_process_serves_its_metrics(tmp_path):
    import time

    import httpx

    port = free_port()
    env = {**os.environ, "SILKGATE_DATA_DIR": str(tmp_path), "SILKGATE_CUSTOMS_WORKER_METRICS_PORT": str(port),
           "SILKGATE_NATS_URL": f"nats://127.0.0.1:{free_port()}"}  # no broker: the worker waits for it, metrics still serve
    process = subprocess.Popen([sys.executable, "-m", "shared.cli", "serve", "customs", "--role", "worker"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        body = ""
        for _ in range(100):
            try:
                body = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1).text
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert "silkgate_events_consumed_total" in body and "silkgate_outbox_published_total" in body
    finally:
        process.terminate()
        assert process.wait(15) == 0
