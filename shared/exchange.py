"""How customs and the sandbox customs authority are pointed at each other, for `silkgate up` and the Stack:
their signing identities (made once under a certificates directory) and the settings that name them."""

from __future__ import annotations

from pathlib import Path

from shared.certificates import ensure_pair

SANDBOX_AUTHORITY_OWNER = "sandbox-authority"
SANDBOX_AUTHORITY_NAME = "sandbox authority"


def exchange_env(certs_dir: Path, *, customs_url: str, authority_url: str) -> dict[str, str]:
    """customs signs with customs.key and checks receipts with authority.crt; the authority the reverse."""
    customs = ensure_pair(certs_dir, "customs", common_name="silkgate customs (declarant)")
    authority = ensure_pair(certs_dir, "authority", common_name="silkgate sandbox customs authority")
    return {
        "SILKGATE_CUSTOMS_AUTHORITY_URL": authority_url,
        "SILKGATE_CUSTOMS_SIGNING_KEY_FILE": str(customs.key_file),
        "SILKGATE_CUSTOMS_SIGNING_CERT_FILE": str(customs.cert_file),
        "SILKGATE_CUSTOMS_AUTHORITY_CERT_FILE": str(authority.cert_file),
        "SILKGATE_AUTHORITY_CUSTOMS_URL": customs_url,
        "SILKGATE_AUTHORITY_SIGNING_KEY_FILE": str(authority.key_file),
        "SILKGATE_AUTHORITY_SIGNING_CERT_FILE": str(authority.cert_file),
        "SILKGATE_AUTHORITY_DECLARANT_CERT_FILE": str(customs.cert_file),
    }


async def rotate_sandbox_authority_key() -> str:
    """The sandbox authority's key in customs (role authority): a new one each start, the old ones revoked."""
    from shared.keys import create_key, revoke_owner_keys

    await revoke_owner_keys(service="customs", owner=SANDBOX_AUTHORITY_OWNER, name=SANDBOX_AUTHORITY_NAME)
    _key_id, key = await create_key(role="authority", owner=SANDBOX_AUTHORITY_OWNER, name=SANDBOX_AUTHORITY_NAME,
                                    services=("customs",))
    return key
