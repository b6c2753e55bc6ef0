"""The whole system as real processes, for end-to-end tests and the benchmark.

nats-server, three services (an API and a worker process each, optionally more replicas), the sandbox carrier and the
sandbox customs authority, driven only over HTTP as merchants, brokers and carriers do. Databases are SQLite files under `root`, or fresh
PostgreSQL databases on `postgres_url`. The stack runs its own nats-server on a free port (never 4222), because
fault tests restart it. Pass `nats=NatsCluster()` (shared.natscluster) to run on a three-node JetStream cluster.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.exchange import exchange_env, rotate_sandbox_authority_key
from shared.natsauth import admin_auth, provision_streams
from shared.natsserver import NatsServer, free_port

SERVICES = ("orders", "customs", "postal")
SANDBOXES = ("carrier", "authority")
# The sandbox authority answers within a fraction of a second here (tests and the benchmark); extra_env overrides.
AUTHORITY_DELAYS = {"SILKGATE_AUTHORITY_DECLARING_DELAY_S": "0.05", "SILKGATE_AUTHORITY_ACCEPTED_DELAY_S": "0.1",
                    "SILKGATE_AUTHORITY_DECISION_DELAY_S": "0.2", "SILKGATE_AUTHORITY_CONCLUSION_DELAY_S": "0.1",
                    "SILKGATE_AUTHORITY_RELEASE_DELAY_S": "0.1"}


@contextmanager
def patched_env(values: dict[str, str]):
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class Stack:
    def __init__(self, root: Path, *, postgres_url: str = "", extra_env: dict[str, str] | None = None,
                 replicas: int = 1, nats: Any = None) -> None:
        self.root = root
        self.postgres_url = postgres_url
        # The services connect with their own NATS users (shared.natsauth); tests and tools use `nats.url` (admin).
        # A cluster (shared.natscluster) may be given instead: anything with url, start() and cleanup().
        self.nats = nats if nats is not None else NatsServer(auth=True)
        self.ports = {name: free_port() for name in (*SERVICES, *SANDBOXES)}
        self.replica_ports = {name: [free_port() for _ in range(replicas - 1)] for name in SERVICES}
        self.extra_env = extra_env or {}
        self.processes: dict[str, subprocess.Popen] = {}
        self.log_dir = root / "log"
        self.pg_databases: list[str] = []
        self.env: dict[str, str] = {}
        self.keys: dict[str, str] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    # ── lifecycle ────────────────────────────────────────────────────────────
    async def start(self) -> None:
        self.nats.start()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # A server with NATS users (shared.natsauth): streams made by the admin, each service with its own user; a
        # cluster here runs without users (the cluster test is about failover, the auth tests are elsewhere).
        credentials = getattr(self.nats, "credentials", None)
        address = getattr(self.nats, "address", None) or self.nats.url
        env = {"SILKGATE_DATA_DIR": str(self.root), "SILKGATE_NATS_URL": address, "PYTHONUNBUFFERED": "1"}
        if credentials is not None:
            await provision_streams(address, admin_auth(credentials))
        for service in SERVICES:
            up = service.upper()
            if credentials is not None:
                env.update(self.nats.service_environment(service))
            env[f"SILKGATE_{up}_DATABASE_URL"] = await self._database_url(service)
            env[f"SILKGATE_{up}_PORT"] = str(self.ports[service])
            env[f"SILKGATE_{up}_MIGRATE_ON_START"] = "false"
            env[f"SILKGATE_{up}_LOG_FILE"] = str(self.log_dir / f"{service}.jsonl")
            env[f"SILKGATE_{up}_CONSUMER_FETCH_TIMEOUT_S"] = "0.5"
        env["SILKGATE_POSTAL_SANDBOX"] = "true"  # the sandbox carrier's key acts for every carrier
        env["SILKGATE_CARRIER_PORT"] = str(self.ports["carrier"])
        env["SILKGATE_CARRIER_POSTAL_URL"] = self.url("postal")
        env["SILKGATE_CARRIER_LOG_FILE"] = str(self.log_dir / "carrier.jsonl")
        env["SILKGATE_POSTAL_DEFAULT_CARRIER_URL"] = f"{self.url('carrier')}/v1/manifests"
        env["SILKGATE_AUTHORITY_PORT"] = str(self.ports["authority"])
        env["SILKGATE_AUTHORITY_LOG_FILE"] = str(self.log_dir / "authority.jsonl")
        env.update(exchange_env(self.root / "certs", customs_url=self.url("customs"), authority_url=self.url("authority")))
        env.update(AUTHORITY_DELAYS)
        env.update(self.extra_env)
        self.env = env
        with patched_env(env):
            from shared.keys import create_key
            from shared.migrate import upgrade

            for service in SERVICES:
                await asyncio.to_thread(upgrade, service, env[f"SILKGATE_{service.upper()}_DATABASE_URL"])
            _, self.keys["merchant"] = await create_key(role="merchant", owner="M001", name="Merchant One")
            _, self.keys["merchant2"] = await create_key(role="merchant", owner="M002", name="Merchant Two")
            _, self.keys["broker"] = await create_key(role="broker", owner="broker-1", name="Broker One")
            _, self.keys["broker2"] = await create_key(role="broker", owner="broker-2", name="Broker Two")
            _, self.keys["ops"] = await create_key(role="ops", owner="ops", name="Ops")
            _, self.keys["carrier"] = await create_key(role="carrier", owner="*", name="sandbox carrier",
                                                       services=("postal",))
            self.keys["authority"] = await rotate_sandbox_authority_key()
        self.env["SILKGATE_CARRIER_API_KEY"] = self.keys["carrier"]
        self.env["SILKGATE_AUTHORITY_API_KEY"] = self.keys["authority"]
        for service in SERVICES:
            self.start_service(service)
            for index, port in enumerate(self.replica_ports[service], start=2):
                self.spawn(f"{service}-api-{index}", [service, "--role", "api", "--port", str(port)])
                self.spawn(f"{service}-worker-{index}", [service, "--role", "worker"])
        self.spawn("carrier", ["carrier"])
        try:
            await self.wait_ready((*SERVICES, "carrier"))
            # The sandbox authority starts once the rest is up, so it does not slow their start on a busy machine.
            self.spawn("authority", ["authority"])
            await self.wait_ready(["authority"])
        except BaseException:
            # Callers stop the stack only once it started; a stack that never got ready must not leave its
            # processes running (a loaded CI machine collected dozens of them).
            await self.stop()
            raise
        await self.register_partners()

    # Payment providers and logistics companies, as ops registers them: (code, kind, name, merchant, key name).
    PARTNERS = (("ALIPAY", "payment", "Alipay", "M001", "payment"), ("WECHATPAY", "payment", "WeChat Pay", "M002",
                                                                     "payment2"),
                ("YTO", "logistics", "YTO Express", "M001", "logistics"),
                ("ZTO", "logistics", "ZTO Express", "M002", "logistics2"))

    async def register_partners(self) -> None:
        """Register the partners over the ops API, bind each to its merchant and make its key (self.keys)."""
        ops = {"Authorization": f"Bearer {self.keys['ops']}"}
        async with httpx.AsyncClient(base_url=self.url("orders"), headers=ops, timeout=30) as client:
            for code, kind, name, merchant, key_name in self.PARTNERS:
                for response in (await client.post("/v1/partners", json={"code": code, "kind": kind, "name": name}),
                                 await client.put(f"/v1/partners/{code}/merchants/{merchant}")):
                    assert response.status_code in (200, 201), response.text
                response = await client.post("/v1/api-keys", json={"role": kind, "owner": code, "name": name})
                assert response.status_code == 201, response.text
                self.keys[key_name] = response.json()["key"]

    def spawn(self, name: str, args: list[str]) -> None:
        log = (self.log_dir / f"{name}.out").open("ab")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "shared.cli", "serve", *args], env={**os.environ, **self.env},
            stdout=log, stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parents[2],
        )

    def start_service(self, service: str) -> None:
        self.spawn(f"{service}-api", [service, "--role", "api"])
        self.spawn(f"{service}-worker", [service, "--role", "worker"])

    def kill(self, service: str, sig: int = signal.SIGKILL) -> None:
        for name in (f"{service}-api", f"{service}-worker"):
            process = self.processes.get(name)
            if process and process.poll() is None:
                process.send_signal(sig)
                process.wait(10)

    async def restart(self, service: str) -> None:
        self.kill(service)
        self.start_service(service)
        await self.wait_ready([service])

    def restart_nats(self) -> None:
        assert self.nats.process is not None
        self.nats.process.kill()
        self.nats.process.wait()
        self.nats.start()  # same port, same store: JetStream state survives

    async def wait_ready(self, services: tuple[str, ...] | list[str] = (*SERVICES, *SANDBOXES),
                         timeout: float = 60) -> None:
        """Every API named (and its replicas' APIs) answers /readyz with 200."""
        deadline = time.monotonic() + timeout
        urls = [(service, self.url(service)) for service in services]
        urls += [(f"{service}-api-{index}", f"http://127.0.0.1:{port}") for service in services
                 for index, port in enumerate(self.replica_ports.get(service, []), start=2)]
        async with httpx.AsyncClient(timeout=2) as client:
            for name, url in urls:
                while True:
                    try:
                        if (await client.get(f"{url}/readyz")).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise AssertionError(f"{name} not ready; see {self.log_dir}")
                    await asyncio.sleep(0.2)

    async def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        for process in self.processes.values():
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
        self.nats.cleanup()
        await self._drop_databases()

    # ── databases ────────────────────────────────────────────────────────────
    async def _database_url(self, service: str) -> str:
        if not self.postgres_url:
            return f"sqlite+aiosqlite:///{self.root / f'{service}.db'}"
        name = f"sge2e_{service}_{uuid.uuid4().hex[:8]}"
        engine = create_async_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(f'CREATE DATABASE "{name}"'))
        await engine.dispose()
        self.pg_databases.append(name)
        return make_url(self.postgres_url).set(database=name).render_as_string(hide_password=False)

    async def _drop_databases(self) -> None:
        if not self.pg_databases:
            return
        engine = create_async_engine(self.postgres_url, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            for name in self.pg_databases:
                await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await engine.dispose()
