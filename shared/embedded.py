"""`silkgate up`: nats-server, migrations, the three services (API and worker processes), the sandbox carrier and
the sandbox customs authority."""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import click

from shared.exchange import exchange_env, rotate_sandbox_authority_key
from shared.migrate import upgrade
from shared.natsauth import NatsCredentialStore, admin_auth, provision_streams, service_environment
from shared.natsserver import nats_server_binary
from shared.serve import port_is_free
from shared.services import SANDBOXES, SERVICE_NAMES, settings_for

EMBEDDED_NATS_PORT = int(os.environ.get("SILKGATE_EMBEDDED_NATS_PORT", "4223"))
SANDBOX_CARRIER_OWNER = os.environ.get("SILKGATE_SANDBOX_CARRIERS", "*")


def _set_parent_death_signal() -> None:
    """Children die with the supervisor even if it is SIGKILLed: no orphan process (Linux only)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:  # noqa: BLE001 - not Linux: rely on the shutdown handler
        pass


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    oneshot: bool = False  # a task that ends by itself (the demo), not a service
    process: subprocess.Popen | None = None
    buffer: bytes = field(default=b"")

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_set_parent_death_signal, start_new_session=True,
        )


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def render(name: str, line: bytes, raw: bool) -> str | None:
    """A JSON log line as one readable line for a person watching `silkgate up` (raw JSON with --json)."""
    text = line.decode(errors="replace").rstrip()
    if raw:
        return text
    try:
        entry = json.loads(text)
    except ValueError:
        return f"{name:<15} {text}"
    if entry.get("event") == "http.request" and int(entry.get("status", 0)) < 400:
        return None  # every request is in var/log/<service>.jsonl; the console shows what happened to parcels
    stamp = str(entry.pop("timestamp", ""))[11:23]
    event = entry.pop("event", "")
    level = entry.pop("level", "info")
    entry.pop("service", None)
    keys = ("order_id", "declaration_id", "tracking_number", "status", "reason", "error", "correlation_id")
    details = " ".join(f"{k}={entry[k]}" for k in keys if k in entry)
    marker = "" if level == "info" else f"[{level}] "
    return f"{stamp} {name:<15} {marker}{event} {details}".rstrip()


class Supervisor:
    """Starts the children, relays their output, and stops them all on Ctrl-C or SIGTERM."""

    def __init__(self, data_dir: Path, raw_logs: bool) -> None:
        self.data_dir = data_dir
        self.raw_logs = raw_logs
        self.children: list[Child] = []
        self.stopping = False

    def env(self, extra: dict[str, str]) -> dict[str, str]:
        env = dict(os.environ)
        env.update({"SILKGATE_DATA_DIR": str(self.data_dir), "SILKGATE_NATS_URL": f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}",
                    "PYTHONUNBUFFERED": "1"})
        # On one's own machine a webhook receiver on localhost is the normal case; production refuses loopback.
        env.setdefault("SILKGATE_ORDERS_WEBHOOK_ALLOW_LOOPBACK", "true")
        env.setdefault("SILKGATE_ORDERS_WEBHOOK_ALLOWED_PORTS", "[]")  # local receivers listen on any port
        env.setdefault("SILKGATE_POSTAL_SANDBOX", "true")  # the sandbox carrier's key acts for every carrier
        postal_port, carrier_port = settings_for("postal").resolved_port(), settings_for("carrier").resolved_port()
        # A newcomer should see parcels handed off within seconds, not after production-sized consolidation ages.
        env.setdefault("SILKGATE_POSTAL_MAX_RECEPTACLE_AGE_S", "10")
        env.setdefault("SILKGATE_POSTAL_MAX_DISPATCH_AGE_S", "5")
        env.setdefault("SILKGATE_CARRIER_POSTAL_URL", f"http://127.0.0.1:{postal_port}")
        env.setdefault("SILKGATE_POSTAL_DEFAULT_CARRIER_URL", f"http://127.0.0.1:{carrier_port}/v1/manifests")
        customs_port, authority_port = settings_for("customs").resolved_port(), settings_for("authority").resolved_port()
        for name, value in exchange_env(self.data_dir / "certs", customs_url=f"http://127.0.0.1:{customs_port}",
                                        authority_url=f"http://127.0.0.1:{authority_port}").items():
            env.setdefault(name, value)
        env.update(extra)
        return env

    def add(self, name: str, args: list[str], extra_env: dict[str, str] | None = None, oneshot: bool = False) -> Child:
        child = Child(name, args, self.env(extra_env or {}), oneshot=oneshot)
        child.start()
        self.children.append(child)
        return child

    def pump(self, until: float | None = None) -> None:
        """Print children's output until `until` (monotonic) or until one of them dies unexpectedly."""
        selector = selectors.DefaultSelector()
        for child in self.children:
            if child.process and child.process.stdout:
                os.set_blocking(child.process.stdout.fileno(), False)
                selector.register(child.process.stdout, selectors.EVENT_READ, child)
        while not self.stopping and (until is None or time.monotonic() < until):
            for key, _ in selector.select(timeout=0.2):
                child: Child = key.data
                chunk = key.fileobj.read()
                if not chunk:
                    selector.unregister(key.fileobj)
                    continue
                child.buffer += chunk
                *lines, child.buffer = child.buffer.split(b"\n")
                for line in lines:
                    text = render(child.name, line, self.raw_logs) if line.strip() else None
                    if text is not None:
                        click.echo(text)
            for child in self.children:
                if child.process and child.process.poll() is not None and not self.stopping:
                    if child.oneshot and child.process.returncode == 0:
                        continue
                    raise click.ClickException(f"{child.name} exited with code {child.process.returncode}")
        selector.close()

    def stop(self) -> None:
        self.stopping = True
        # Services first, nats-server last, so they can flush acks and close cleanly.
        for child in sorted(self.children, key=lambda c: c.name == "nats-server"):
            if child.process and child.process.poll() is None:
                child.process.terminate()
        deadline = time.monotonic() + 10
        for child in self.children:
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.process.kill()
                child.process.wait()
        click.echo("silkgate: stopped")


def up(*, data_dir: Path, demo: bool, raw_logs: bool) -> None:
    """Run the whole system in the foreground until Ctrl-C or SIGTERM."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "log").mkdir(exist_ok=True)
    os.environ["SILKGATE_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("SILKGATE_POSTAL_SANDBOX", "true")  # the embedded mode is the sandbox
    ports = {name: settings_for(name).resolved_port() for name in (*SERVICE_NAMES, *SANDBOXES)}
    taken = [f"{name} {port}" for name, port in [("nats-server", EMBEDDED_NATS_PORT), *ports.items()]
             if not port_is_free("127.0.0.1", port)]
    if taken:
        raise click.ClickException(f"ports already in use: {', '.join(taken)} — is silkgate already running?")
    for service in SERVICE_NAMES:
        upgrade(service, settings_for(service).resolved_database_url())
    click.echo(f"silkgate: migrations applied, data in {data_dir}")
    carrier_key = _ensure_sandbox_carrier_key()
    authority_key = asyncio.run(rotate_sandbox_authority_key())

    supervisor = Supervisor(data_dir, raw_logs)

    def on_signal(signum, _frame):
        supervisor.stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    nats_users = NatsCredentialStore(data_dir / "nats")
    try:
        supervisor.add("nats-server", [nats_server_binary(), *secured_nats_arguments(data_dir, nats_users),
                                       "-a", "127.0.0.1", "-p", str(EMBEDDED_NATS_PORT), "-js",
                                       "-sd", str(data_dir / "jetstream"), "-l", str(data_dir / "log" / "nats-server.log")])
        if not wait_for_port(EMBEDDED_NATS_PORT):
            raise click.ClickException("nats-server did not start")
        asyncio.run(provision_streams(f"nats://127.0.0.1:{EMBEDDED_NATS_PORT}", admin_auth(nats_users)))
        silkgate = [sys.executable, "-m", "shared.cli", "serve"]
        for service in SERVICE_NAMES:
            env = {**service_environment(service, nats_users),
                   f"SILKGATE_{service.upper()}_MIGRATE_ON_START": "false",
                   f"SILKGATE_{service.upper()}_WORKER_METRICS_PORT": str(ports[service] + 100),
                   f"SILKGATE_{service.upper()}_LOG_FILE": str(data_dir / "log" / f"{service}.jsonl")}
            supervisor.add(f"{service}", [*silkgate, service, "--role", "api"], env)
            supervisor.add(f"{service}-worker", [*silkgate, service, "--role", "worker"], env)
        supervisor.add("carrier", [*silkgate, "carrier"], {"SILKGATE_CARRIER_API_KEY": carrier_key,
                                                           "SILKGATE_CARRIER_LOG_FILE": str(data_dir / "log" / "carrier.jsonl")})
        supervisor.add("authority", [*silkgate, "authority"], {
            "SILKGATE_AUTHORITY_API_KEY": authority_key,
            "SILKGATE_AUTHORITY_LOG_FILE": str(data_dir / "log" / "authority.jsonl")})
        for service, port in ports.items():
            supervisor.pump(until=time.monotonic() + 0.01)
            if not wait_for_port(port):
                raise click.ClickException(f"{service} did not start on port {port}")
        click.echo(f"silkgate: up — orders http://127.0.0.1:{ports['orders']}/docs  "
                   f"customs http://127.0.0.1:{ports['customs']}/docs  postal http://127.0.0.1:{ports['postal']}/docs  "
                   f"customs authority (sandbox) http://127.0.0.1:{ports['authority']}/docs  "
                   "(Ctrl-C stops everything)")
        click.echo(f"silkgate: brokers' console http://127.0.0.1:{ports['customs']}/console/ (sign in with a broker key)")
        if demo:
            supervisor.add("demo", [sys.executable, "-m", "shared.cli", "demo"], oneshot=True)
        supervisor.pump()
    finally:
        supervisor.stop()


def secured_nats_arguments(data_dir: Path, store: NatsCredentialStore) -> list[str]:
    """nats-server's configuration for the embedded mode: one user per service (shared.natsauth), made on the first
    `up` under <data dir>/nats (passwords 0600, the configuration holds their bcrypt hashes) and kept after."""
    return ["-c", str(store.write_server_config(data_dir / "nats" / "nats-server.json"))]


def _ensure_sandbox_carrier_key() -> str:
    """The sandbox carrier's key in postal: a new one each start (the old ones are revoked)."""
    import asyncio

    from shared.keys import create_key, revoke_owner_keys

    async def rotate() -> str:
        await revoke_owner_keys(service="postal", owner=SANDBOX_CARRIER_OWNER, name="sandbox carrier")
        _key_id, key = await create_key(role="carrier", owner=SANDBOX_CARRIER_OWNER, name="sandbox carrier",
                                        services=("postal",))
        return key

    return asyncio.run(rotate())
