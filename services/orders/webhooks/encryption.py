"""Webhook signing secrets at rest: encrypted with Fernet under keys from configuration, rotatable.

`webhook_secret_keys` (or the file `webhook_secret_keys_file`, one key per line) lists Fernet keys; the first
encrypts, every one decrypts (MultiFernet). To rotate the key: put a new key first, run
`silkgate webhooks reencrypt` (every stored secret is encrypted again under the first key), then drop the old key.
Outside production, with no key configured, one is made once under the data directory (`secrets/`), so the embedded
mode and tests need no setup; production refuses to start without a configured key (shared.secrets).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from shared.settings import data_dir

PLAINTEXT_PREFIX = "whsec_"


class SecretBox:
    """Seals and opens signing secrets; `rotate` re-encrypts a sealed one under the first key."""

    def __init__(self, keys: list[str]) -> None:
        if not keys:
            raise ValueError("at least one webhook secret key is needed")
        self.fernet = MultiFernet([Fernet(key.strip().encode()) for key in keys])

    def seal(self, secret: str) -> str:
        return self.fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The clear secret; a value still in clear text (before orders_0005 ran) is returned as it is."""
        if sealed.startswith(PLAINTEXT_PREFIX):
            return sealed
        return self.fernet.decrypt(sealed.encode()).decode()

    def rotate(self, sealed: str) -> str:
        if sealed.startswith(PLAINTEXT_PREFIX):
            return self.seal(sealed)
        return self.fernet.rotate(sealed.encode()).decode()


def configured_keys(keys: list[str], keys_file: str | None) -> list[str]:
    """The keys from configuration: the list itself, then the file's non-empty lines."""
    found = [key.strip() for key in keys if key.strip()]
    if keys_file:
        found += [line.strip() for line in Path(keys_file).read_text(encoding="utf-8").splitlines() if line.strip()]
    return found


def development_key_file() -> Path:
    """A key made once under the data directory (never in production: see shared.secrets)."""
    path = data_dir() / "secrets" / "webhook_secret_keys"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(Fernet.generate_key().decode() + "\n")
    try:
        os.link(temporary, path)  # atomic: an API and a worker starting together end up with one key
    except FileExistsError:
        pass
    finally:
        temporary.unlink(missing_ok=True)
    return path


@lru_cache(maxsize=8)
def _box(keys: tuple[str, ...]) -> SecretBox:
    return SecretBox(list(keys))


def secret_box(settings) -> SecretBox:
    """The box of the settings' keys (built once per key list)."""
    keys = configured_keys([k.get_secret_value() for k in settings.webhook_secret_keys],
                           settings.webhook_secret_keys_file)
    if not keys:
        keys = configured_keys([], str(development_key_file()))
    return _box(tuple(keys))


__all__ = ["InvalidToken", "SecretBox", "configured_keys", "secret_box"]
