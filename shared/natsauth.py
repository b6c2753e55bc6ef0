"""NATS authorization: one user per service, allowed to publish only its own subjects and to consume only what it
follows; the nats-server configuration that enforces it; the client options that present the credentials.

Why: consumers act on what arrives on a subject (a `declaration.released` ships a parcel), so who may publish on a
subject must be decided by the broker, not by whoever can reach its port. Each service gets a user whose permissions
are derived from the contract (shared.contract.subjects):

- publish: its own subjects `silkgate.<service>.>`; its dead letters `silkgate.dlq.<service>.>`; the JetStream API
  calls its relay and consumers make — stream info (any stream, read only), create/update of its own stream and of
  the dead-letter stream, reading and deleting dead letters (its ops API), create/info of its own durable consumer on each stream it follows, pull requests
  (`$JS.API.CONSUMER.MSG.NEXT.<stream>.<service>`) and acks (`$JS.ACK.<stream>.<service>.>`) for those consumers
  only, and (orders) the info of the downstream consumers on its own stream, which back-pressure reads;
- subscribe: only its own inbox prefix `_INBOX_<service>.>` (replies and pulled messages come there), so it cannot
  listen to another service's replies, nor subscribe to event subjects directly.

An `admin` user has every permission: `silkgate up` and the test stack use it to create the streams before the
services start, and operators' tools (dead letters) use it. Passwords are random (256 bits), written once under the
data directory (0600); the server's configuration holds only their bcrypt hashes. The configuration is JSON, which
nats-server reads as its configuration syntax, so it is rendered by json.dumps and never by string formatting.
"""

from __future__ import annotations

import json
import os
import secrets
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bcrypt

from shared.contract.events import EVENTS_BY_TYPE
from shared.contract.subjects import CONSUMERS, DEAD_LETTER_PREFIX, DEAD_LETTER_STREAM, SERVICES, stream_name

ADMIN_USER = "admin"
# bcrypt cost. nats-server checks it at every connect (and reconnect). The passwords are 256 random bits: the hash only
# keeps them out of the configuration file, where a slow hash adds nothing against guessing 256 bits, while on a loaded
# machine it made connects time out. The lowest cost bcrypt allows.
BCRYPT_ROUNDS = 4


def inbox_prefix(user: str) -> str:
    """The inbox prefix a user's connection uses; its only subscribe permission."""
    return f"_INBOX_{user}"


def followed_streams(service: str) -> list[str]:
    """The streams whose events `service` consumes (from the contract's consumer table)."""
    sources = {EVENTS_BY_TYPE[subject].SERVICE for subject in CONSUMERS.get(service, [])}
    return [stream_name(source) for source in SERVICES if source in sources]


def service_permissions(service: str) -> dict[str, Any]:
    """The publish/subscribe permissions of one service's NATS user (see the module docstring)."""
    own = stream_name(service)
    publish = [
        f"silkgate.{service}.>",
        f"{DEAD_LETTER_PREFIX}.{service}.>",
        "$JS.API.INFO",
        "$JS.API.STREAM.INFO.*",
        f"$JS.API.STREAM.CREATE.{own}",
        f"$JS.API.STREAM.UPDATE.{own}",
        f"$JS.API.STREAM.CREATE.{DEAD_LETTER_STREAM}",
        f"$JS.API.STREAM.UPDATE.{DEAD_LETTER_STREAM}",
        # Its ops API reads and drops dead letters (shared.dlq_api); replaying one publishes another service's
        # event, which only an operator's tool does (`silkgate dlq replay`, the admin user).
        f"$JS.API.STREAM.MSG.GET.{DEAD_LETTER_STREAM}",
        f"$JS.API.STREAM.MSG.DELETE.{DEAD_LETTER_STREAM}",
    ]
    for stream in followed_streams(service):
        publish += [
            f"$JS.API.CONSUMER.CREATE.{stream}.{service}",
            f"$JS.API.CONSUMER.CREATE.{stream}.{service}.>",
            f"$JS.API.CONSUMER.DURABLE.CREATE.{stream}.{service}",
            f"$JS.API.CONSUMER.INFO.{stream}.{service}",
            f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{service}",
            # Acks go to the delivered message's reply subject; the second form is the one with domain and account.
            f"$JS.ACK.{stream}.{service}.>",
            f"$JS.ACK.*.*.{stream}.{service}.>",
        ]
    # How far the consumers of its own stream lag behind (orders' back-pressure reads it): info only.
    publish.append(f"$JS.API.CONSUMER.INFO.{own}.*")
    return {"publish": {"allow": sorted(set(publish))}, "subscribe": {"allow": [f"{inbox_prefix(service)}.>"]}}


def admin_permissions() -> dict[str, Any]:
    return {"publish": {"allow": [">"]}, "subscribe": {"allow": [">"]}}


@dataclass(frozen=True)
class TlsFiles:
    """Certificate files: a server's (cert + key, and a CA to verify clients) or a client's (CA, optional cert)."""

    cert_file: str | None = None
    key_file: str | None = None
    ca_file: str | None = None
    verify_clients: bool = False


def server_config(password_hashes: dict[str, str], *, store_dir: str | None = None, host: str | None = None,
                  port: int | None = None, tls: TlsFiles | None = None, http_port: int | None = None) -> str:
    """The nats-server configuration (JSON) enforcing one user per service plus the admin (no users: open)."""
    users = []
    for user, password_hash in sorted(password_hashes.items()):
        permissions = admin_permissions() if user == ADMIN_USER else service_permissions(user)
        users.append({"user": user, "password": password_hash, "permissions": permissions})
    config: dict[str, Any] = {"authorization": {"users": users}} if users else {}
    if store_dir is not None:
        config["jetstream"] = {"store_dir": store_dir}
    if host is not None:
        config["host"] = host
    if port is not None:
        config["port"] = port
    if http_port is not None:
        config["http_port"] = http_port
    if tls is not None:
        block: dict[str, Any] = {"cert_file": tls.cert_file, "key_file": tls.key_file}
        if tls.ca_file:
            block["ca_file"] = tls.ca_file
        if tls.verify_clients:
            block["verify"] = True
        config["tls"] = block
    return json.dumps(config, indent=2)


def hash_password(password: str) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_ROUNDS)).decode()


def new_password() -> str:
    return secrets.token_urlsafe(32)


def write_secret(path: Path, value: str, *, mode: int = 0o600) -> None:
    """Write a secret readable by its owner only (created 0600: never wider, even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value)
    if mode != 0o600:
        os.chmod(path, mode)


class NatsCredentialStore:
    """The passwords of every NATS user in one directory: `<user>.password` (0600) and `auth.json`, the hashes.

    Made on first use and kept: a second `silkgate up` finds them and the services keep their users.
    """

    def __init__(self, directory: Path, users: tuple[str, ...] = (*SERVICES, ADMIN_USER), *,
                 file_mode: int = 0o600) -> None:
        self.directory = directory
        self.users = users
        self.file_mode = file_mode

    def password_file(self, user: str) -> Path:
        return self.directory / f"{user}.password"

    def password(self, user: str) -> str:
        return self.password_file(user).read_text(encoding="utf-8").strip()

    def ensure(self) -> dict[str, str]:
        """Create what is missing; returns each user's bcrypt hash (from auth.json, kept with the passwords)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o700)
        hashes_file = self.directory / "auth.json"
        hashes: dict[str, str] = json.loads(hashes_file.read_text()) if hashes_file.exists() else {}
        changed = False
        for user in self.users:
            if not self.password_file(user).exists() or user not in hashes:
                password = new_password()
                write_secret(self.password_file(user), password, mode=self.file_mode)
                hashes[user] = hash_password(password)
                changed = True
        if changed:
            write_secret(hashes_file, json.dumps(hashes, indent=2))
        return hashes

    def write_server_config(self, path: Path, **options: Any) -> Path:
        write_secret(path, server_config(self.ensure(), **options))
        return path


@dataclass(frozen=True)
class NatsClientAuth:
    """What a client presents to nats-server: a user and password, and TLS settings."""

    user: str | None = None
    password: str | None = None
    tls_ca_file: str | None = None
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_hostname: str | None = None

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for nats.connect."""
        options: dict[str, Any] = {}
        if self.user:
            options.update(user=self.user, password=self.password or "", inbox_prefix=inbox_prefix(self.user))
        if self.tls_ca_file or self.tls_cert_file:
            options["tls"] = client_tls_context(self)
            if self.tls_hostname:
                options["tls_hostname"] = self.tls_hostname
        return options


def client_tls_context(auth: NatsClientAuth) -> ssl.SSLContext:
    """Verify the server against the configured CA (or the system's); present a client certificate if given."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=auth.tls_ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if auth.tls_cert_file:
        context.load_cert_chain(auth.tls_cert_file, auth.tls_key_file)
    return context


def client_auth_from_settings(settings: Any) -> NatsClientAuth:
    """A service's NATS credentials from its settings (shared.settings.ServiceSettings: nats_user, nats_password,
    nats_password_file, nats_tls_*). The user defaults to the service's name when a password is given."""
    password = settings.nats_password.get_secret_value() if settings.nats_password else None
    if password is None and settings.nats_password_file:
        password = Path(settings.nats_password_file).read_text(encoding="utf-8").strip()
    user = settings.nats_user or (settings.service if password else None)
    return NatsClientAuth(user=user, password=password, tls_ca_file=settings.nats_tls_ca_file,
                          tls_cert_file=settings.nats_tls_cert_file, tls_key_file=settings.nats_tls_key_file,
                          tls_hostname=settings.nats_tls_hostname)


def service_environment(service: str, store: NatsCredentialStore) -> dict[str, str]:
    """The environment that gives one service process its own NATS user (the embedded mode and the test stack)."""
    return {f"SILKGATE_{service.upper()}_NATS_USER": service,
            f"SILKGATE_{service.upper()}_NATS_PASSWORD_FILE": str(store.password_file(service))}


def admin_auth(store: NatsCredentialStore) -> NatsClientAuth:
    return NatsClientAuth(user=ADMIN_USER, password=store.password(ADMIN_USER))


def operator_connect_options(data_dir: Path) -> dict[str, Any]:
    """nats.connect options for an operator's tool (dead letters, inspection) against the embedded server of
    `data_dir`: the admin user when `silkgate up` made the users there, nothing otherwise (an open server)."""
    store = NatsCredentialStore(data_dir / "nats")
    if not store.password_file(ADMIN_USER).exists():
        return {}
    return admin_auth(store).connect_options()


async def provision_streams(url: str, auth: NatsClientAuth, *, timeout_s: float = 30.0) -> None:
    """Create every stream (and the dead letters) as the admin, before the services start: each service's own user
    may create only its own stream, and a consumer cannot be made on a stream that does not exist yet."""
    import asyncio

    from shared.bus import Bus

    bus = Bus(url, connect_options=auth.connect_options())
    try:
        await asyncio.wait_for(bus.connect(retry=True), timeout=timeout_s)
    finally:
        await bus.close()
