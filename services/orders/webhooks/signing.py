"""Webhook signatures (Stripe's scheme): `Silkgate-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "t.body")>`.

The key is the endpoint's whole secret (`whsec_…`, UTF-8); the signed message is the timestamp, a dot and the
request body exactly as sent. The timestamp is signed too, so a captured request cannot be replayed later than the
receiver's tolerance. `verify` is the function the README shows merchants.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Silkgate-Signature"
SECRET_PREFIX = "whsec_"
SCHEME = "v1"


def new_secret() -> str:
    """A fresh signing secret: 256 random bits."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of f"{timestamp}.{body}" under the secret."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes, *, previous: str | None = None) -> str:
    """The Silkgate-Signature header value for a body sent at `timestamp` (unix seconds). During a secret rotation's
    overlap a second v1 entry signs with the `previous` secret (as Stripe does): a receiver still holding the old
    secret verifies the delivery, and so does one holding the new."""
    header = f"t={timestamp},{SCHEME}={signature(secret, timestamp, body)}"
    if previous is not None:
        header += f",{SCHEME}={signature(previous, timestamp, body)}"
    return header


def verify(secret: str, header: str, body: bytes, tolerance_s: int = 300, *, now: float | None = None) -> bool:
    """True when `header` signs `body` under `secret` and its timestamp is within `tolerance_s` of now.

    Several v1 entries may be present; one match is enough. Compare in constant time.
    """
    try:
        items = [part.split("=", 1) for part in header.split(",")]
        timestamp = int(next(value for key, value in items if key.strip() == "t"))
        candidates = [value for key, value in items if key.strip() == SCHEME]
    except (ValueError, StopIteration):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance_s:
        return False
    expected = signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate.strip()) for candidate in candidates)
