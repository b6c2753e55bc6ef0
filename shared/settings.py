"""Settings shared by every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_PORTS = {"orders": 8001, "customs": 8002, "postal": 8003, "carrier": 8004, "authority": 8005}
DEFAULT_NATS_URL = "nats://127.0.0.1:4223"


def data_dir() -> Path:
    """Where the embedded mode keeps its SQLite files, JetStream store and logs."""
    import os

    return Path(os.environ.get("SILKGATE_DATA_DIR", "var")).resolve()


class ServiceSettings(BaseSettings):
    """What every service needs; `SILKGATE_<SERVICE>_…` overrides, `SILKGATE_NATS_URL` is shared."""

    model_config = SettingsConfigDict(extra="ignore", env_file=None)

    SERVICE: str = "service"

    host: str = "127.0.0.1"
    port: int = 0
    database_url: str = ""
    # The database password from a file (a Docker secret), put into database_url: the URL itself stays free of it.
    database_password_file: str | None = None
    nats_url: str = Field(
        default=DEFAULT_NATS_URL,
        validation_alias=AliasChoices("nats_url", "SILKGATE_NATS_URL"),
    )
    # This service's NATS user (shared.natsauth): the password itself, or a file holding it (a Docker secret, or
    # what `silkgate up` writes under the data directory). No password: connect without credentials (tests).
    nats_user: str = ""
    nats_password: SecretStr | None = None
    nats_password_file: str | None = None
    # TLS to nats-server (use a tls:// URL): the CA that signed the server's certificate (shared by all services),
    # and this service's client certificate and key when the server verifies clients (mutual TLS).
    nats_tls_ca_file: str | None = Field(
        default=None, validation_alias=AliasChoices("nats_tls_ca_file", "SILKGATE_NATS_TLS_CA_FILE"))
    nats_tls_cert_file: str | None = None
    nats_tls_key_file: str | None = None
    nats_tls_hostname: str | None = None
    # Copies of each stream in a NATS cluster (SILKGATE_NATS_STREAM_REPLICAS, shared): 0 decides from the cluster's
    # size when connecting (3 with three or more nodes, 1 on a single server).
    nats_stream_replicas: int = Field(
        default=0, ge=0, le=5,
        validation_alias=AliasChoices("nats_stream_replicas", "SILKGATE_NATS_STREAM_REPLICAS"),
    )
    log_level: str = "INFO"
    log_file: str | None = None  # JSON lines also appended here (embedded mode: var/log/<service>.jsonl)

    # Which halves run in this process: the HTTP API and/or the relay and consumers.
    run_api: bool = True
    run_workers: bool = True

    # A worker process (relay, consumers, timers) has no API; it serves /metrics here when set (0: off).
    worker_metrics_port: int = 0

    # Outbox relay
    relay_batch_size: int = 500
    relay_idle_interval_s: float = 0.05
    outbox_retention_s: float = 24 * 3600

    # Consumers
    consumer_batch_size: int = 200
    consumer_fetch_timeout_s: float = 1.0
    # After a batch smaller than consumer_batch_size, wait this long before fetching again, so the next batch is
    # fuller: per-batch costs (transaction, locks, inbox, acks) are paid by more events, for a little latency.
    consumer_linger_s: float = 0.05
    consumer_ack_wait_s: float = 30.0
    consumer_max_attempts: int = 5
    consumer_backoff_s: list[float] = [0.5, 2.0, 5.0, 15.0, 30.0]
    duplicate_window_s: float = 600.0
    # How often the worker reads its consumers' pending counts and its dead letters from the broker (metrics
    # silkgate_consumer_pending and silkgate_dead_letters; a warning in the log when the dead letters grow).
    broker_watch_interval_s: float = 10.0

    # How long a SQLite writer waits for another process's write lock before the request fails with 503.
    sqlite_busy_timeout_ms: int = 30000
    database_pool_size: int = 10

    # Embedded mode migrates at start-up; production runs `silkgate migrate` as its own job.
    migrate_on_start: bool = True

    nats_connect_timeout_s: float = 2.0
    max_body_bytes: int = 1_000_000

    def resolved_database_url(self) -> str:
        """The configured URL, or the embedded SQLite file under the data directory."""
        if self.database_url and self.database_password_file:
            from sqlalchemy.engine import make_url

            password = Path(self.database_password_file).read_text(encoding="utf-8").strip()
            return make_url(self.database_url).set(password=password).render_as_string(hide_password=False)
        if self.database_url:
            return self.database_url
        path = data_dir() / f"{self.SERVICE}.db"
        return f"sqlite+aiosqlite:///{path}"

    def resolved_port(self) -> int:
        return self.port or DEFAULT_PORTS[self.SERVICE]

    @property
    def service(self) -> str:
        return self.SERVICE


def prefixed(service: str) -> SettingsConfigDict:
    """The settings config of one service: env prefix `SILKGATE_<SERVICE>_`."""
    return SettingsConfigDict(env_prefix=f"SILKGATE_{service.upper()}_", extra="ignore", env_file=None)
