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
from datetime import UTC, datetime
from pathlib import Path

import click

from shared.console import ConsoleFormatter
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


# A crashed child is started again after 0.5 s, 1 s, 2 s … (at most 10 s); more than MAX_CRASHES crashes of one
# child within CRASH_WINDOW_S seconds means something is wrong that a restart will not fix: `up` stops.
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0)
MAX_CRASHES = 5
CRASH_WINDOW_S = 60.0


@dataclass
class Child:
    name: str
    args: list[str]
    env: dict[str, str]
    oneshot: bool = False  # a task that ends by itself (the demo), not a service
    process: subprocess.Popen | None = None
    buffer: bytes = field(default=b"")
    crashes: list[float] = field(default_factory=list)  # monotonic times of recent crashes
    restart_at: float | None = None  # when a crashed child is due to start again

    def start(self) -> None:
        self.buffer = b""
        self.restart_at = None
        self.process = subprocess.Popen(
            self.args, env=self.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            preexec_fn=_set_parent_death_signal, start_new_session=True,
        )

    def crashed(self, now: float) -> float | None:
        """Record a crash; the delay before the next start, or None when it crashed too often to go on."""
        self.crashes = [at for at in self.crashes if now - at < CRASH_WINDOW_S] + [now]
        if len(self.crashes) > MAX_CRASHES:
            return None
        delay = RESTART_BACKOFF_S[min(len(self.crashes) - 1, len(RESTART_BACKOFF_S) - 1)]
        self.restart_at = now + delay
        return delay


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.3).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


class Supervisor:
    """Starts the children, relays their output as readable lines, restarts a crashed one with backoff, and stops
    them all on Ctrl-C or SIGTERM: the services first, nats-server last."""

    def __init__(self, data_dir: Path, raw_logs: bool) -> None:
        self.data_dir = data_dir
        self.raw_logs = raw_logs
        self.children: list[Child] = []
        self.stopping = False
        self.console = ConsoleFormatter(quiet_requests=True)
        self.selector = selectors.DefaultSelector()
        (data_dir / "log").mkdir(parents=True, exist_ok=True)
        self.log_path = data_dir / "log" / "supervisor.jsonl"

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
        self._start(child)
        self.children.append(child)
        return child

    def _start(self, child: Child) -> None:
        child.start()
        assert child.process is not None and child.process.stdout is not None
        os.set_blocking(child.process.stdout.fileno(), False)
        self.selector.register(child.process.stdout, selectors.EVENT_READ, child)

    def say(self, event: str, level: str = "info", **fields: object) -> None:
        """A supervisor line: on the console and in var/log/supervisor.jsonl (so `silkgate logs` shows it too)."""
        entry = {"event": event, "level": level, "service": "supervisor",
                 "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"), **fields}
        with self.log_path.open("a", encoding="utf-8") as log_file:
            log_file.write(json.dumps(entry) + "\n")
        text = json.dumps(entry) if self.raw_logs else self.console.line(entry, "supervisor")
        if text is not None:
            click.echo(text)

    def show(self, child: Child, line: bytes) -> None:
        text = line.decode(errors="replace")
        shown = text.rstrip() if self.raw_logs else self.console.raw_line(text, child.name)
        if shown:
            click.echo(shown)

    def pump(self, until: float | None = None) -> None:
        """Print children's output until `until` (monotonic) or until stopped; restart children that crash."""
        while not self.stopping and (until is None or time.monotonic() < until):
            for key, _ in self.selector.select(timeout=0.2):
                child: Child = key.data
                chunk = key.fileobj.read()
                if not chunk:
                    self.selector.unregister(key.fileobj)
                    continue
                child.buffer += chunk
                *lines, child.buffer = child.buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        self.show(child, line)
            self.watch()

    def watch(self) -> None:
        """Notice children that ended, and start again the ones whose backoff is over."""
        now = time.monotonic()
        for child in self.children:
            if self.stopping or child.process is None:
                continue
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._start(child)
                    self.say("supervisor.restarted", child=child.name, pid=child.process.pid,
                             crashes=len(child.crashes))
                continue
            code = child.process.poll()
            if code is None or (child.oneshot and code == 0):
                continue
            self._forget_output(child)
            if child.oneshot:
                self.say("supervisor.task_failed", level="warning", child=child.name, exit_code=code)
                child.process = None
                continue
            delay = child.crashed(now)
            if delay is None:
                self.say("supervisor.giving_up", level="error", child=child.name, exit_code=code,
                         reason=f"{len(child.crashes)} crashes within {CRASH_WINDOW_S:.0f} s")
                raise click.ClickException(f"{child.name} crashed {len(child.crashes)} times within "
                                           f"{CRASH_WINDOW_S:.0f} s (last exit code {code}); stopping — "
                                           f"see {self.data_dir / 'log'}")
            self.say("supervisor.child_exited", level="warning", child=child.name, exit_code=code,
                     reason=f"restarting in {delay:g} s (crash {len(child.crashes)} of {MAX_CRASHES} "
                            f"allowed within {CRASH_WINDOW_S:.0f} s)")

    def _forget_output(self, child: Child) -> None:
        """Print what the ended child left in its pipe, and stop watching the pipe."""
        stdout = child.process.stdout if child.process else None
        if stdout is None:
            return
        try:
            rest = child.buffer + (stdout.read() or b"")
        except (OSError, ValueError):
            rest = child.buffer
        for line in rest.split(b"\n"):
            if line.strip():
                self.show(child, line)
        child.buffer = b""
        try:
            self.selector.unregister(stdout)
        except (KeyError, ValueError):
            pass
        stdout.close()

    def stop(self) -> None:
        """The services (and the demo) first, so they flush acks and close their broker connections cleanly; then
        nats-server. Each stage waits up to 10 s before killing what is left."""
        self.stopping = True
        services = [c for c in self.children if c.name != "nats-server"]
        nats = [c for c in self.children if c.name == "nats-server"]
        for stage in (services, nats):
            for child in stage:
                if child.process and child.process.poll() is None:
                    child.process.terminate()
            deadline = time.monotonic() + 10
            for child in stage:
                if child.process is None:
                    continue
                try:
                    child.process.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    child.process.wait()
                self._forget_output(child)
        self.selector.close()
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
