"""Request fingerprints for `Idempotency-Key` (DESIGN.md: Stripe semantics — same key and same request replay the
stored response, same key and another request is a 409)."""

from __future__ import annotations

import hashlib
import json


def request_fingerprint(method: str, path: str, body_bytes: bytes) -> str:
    """The sha256 hex digest of method, path and body; a JSON body is canonicalised first."""
    digest = hashlib.sha256()
    digest.update(method.upper().encode("ascii"))
    digest.update(b"\x00" + path.encode("utf-8") + b"\x00")
    canonical = canonical_json(body_bytes)
    # The tag keeps a raw body from ever colliding with the canonical form of a different JSON body.
    digest.update(b"json\x00" + canonical if canonical is not None else b"raw\x00" + body_bytes)
    return digest.hexdigest()


def canonical_json(body_bytes: bytes) -> bytes | None:
    """The body as compact JSON with sorted keys, so key order and whitespace don't matter; None if not JSON."""
    try:
        document = json.loads(body_bytes)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError; absurd nesting recurses
        return None
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
