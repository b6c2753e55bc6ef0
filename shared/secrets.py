"""Secrets for a deployment, and the production check that refuses to start with a known default or an empty one.

`silkgate secrets init` writes one file per secret (0600) into a directory that docker-compose.yml reads as Docker
secrets: the PostgreSQL password, one NATS password per service (and the admin's), the nats-server authorization
block holding their bcrypt hashes, and the key that encrypts webhook signing secrets at rest. Nothing has a default:
compose does not start without them.

Production mode is `SILKGATE_ENV=production` (compose sets it). There a service refuses to start (shared.serve)
when a password is empty or one of the well-known defaults, when it would talk to NATS without credentials, when
webhook secrets would be stored without an encryption key from configuration, and when a sandbox convenience is on.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from shared.contract.subjects import SERVICES
from shared.natsauth import ADMIN_USER, NatsCredentialStore, new_password, server_config, write_secret

PRODUCTION = "production"
# See init_secrets: the directory keeps them private on the host; inside a container the service's user reads them.
SECRET_FILE_MODE = 0o644
# Passwords nobody may deploy with: the ones in examples, images' documentation and old compose files.
KNOWN_DEFAULTS = frozenset({
    "", "silkgate", "postgres", "password", "passw0rd", "changeme", "change-me", "secret", "admin", "root", "nats",
    "example", "test", "default", "123456", "s3cr3t",
})


def environment() -> str:
    """The deployment mode: `production`, or anything else (development, sandbox, test)."""
    return os.environ.get("SILKGATE_ENV", "development").strip().lower()


def is_production() -> bool:
    return environment() == PRODUCTION


def _weak(password: str | None) -> bool:
    return password is None or password.strip().lower() in KNOWN_DEFAULTS or len(password.strip()) < 12


def production_problems(settings: Any) -> list[str]:
    """Why this service's configuration is unsafe for production (empty: fine). Pure: reads settings and files."""
    problems: list[str] = []
    url = make_url(settings.resolved_database_url())
    if url.get_backend_name() != "sqlite" and _weak(url.password):
        problems.append(f"the database password of {url.username or 'the database user'} is empty, short or a "
                        "known default: set it with SILKGATE_<SERVICE>_DATABASE_PASSWORD_FILE (silkgate secrets init)")
    if getattr(settings, "SERVICE", "") in SERVICES:
        from shared.natsauth import client_auth_from_settings

        auth = client_auth_from_settings(settings)
        if not auth.user:
            problems.append("no NATS credentials: set SILKGATE_<SERVICE>_NATS_PASSWORD_FILE (silkgate secrets init)")
        elif _weak(auth.password):
            problems.append("the NATS password is empty, short or a known default")
        nats_password = make_url(settings.nats_url.replace("tls://", "nats://")).password \
            if "@" in settings.nats_url else None
        if nats_password is not None:
            problems.append("SILKGATE_NATS_URL carries a password: use the service's password file instead")
    problems += [str(problem) for problem in getattr(settings, "production_problems", lambda: [])()]
    return problems


def init_secrets(directory: Path, *, force: bool = False) -> list[Path]:
    """Write every secret a compose deployment needs into `directory`; keep existing ones unless `force`. Returns the
    files written.

    The directory is 0700: on the host only its owner reads the secrets. The files are 0644 because compose mounts
    each into its container as it is on the host, and the services run there as `nobody`, not as the host's user.
    """
    from cryptography.fernet import Fernet

    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    written: list[Path] = []

    def put(name: str, value: str) -> None:
        path = directory / name
        if path.exists() and not force:
            return
        write_secret(path, value, mode=SECRET_FILE_MODE)
        written.append(path)

    put("postgres_password", new_password())
    put("webhook_secret_keys", Fernet.generate_key().decode())
    nats = NatsCredentialStore(directory / "nats", file_mode=SECRET_FILE_MODE)
    if force:
        for user in (*SERVICES, ADMIN_USER):
            nats.password_file(user).unlink(missing_ok=True)
    hashes = nats.ensure()  # nats/<user>.password, one per service and the admin
    # The authorization block only: compose gives nats-server its other options on the command line.
    path = directory / "nats_auth.conf"
    write_secret(path, server_config(hashes), mode=SECRET_FILE_MODE)
    written.append(path)
    return written
