"""How `silkgate up` and the Stack point customs and the sandbox authority at each other."""

from __future__ import annotations

import asyncio

from shared.auth import ApiKeyRepository
from shared.ceb.signing import SigningIdentity
from shared.db import Database
from shared.exchange import SANDBOX_AUTHORITY_OWNER, exchange_env, rotate_sandbox_authority_key
from shared.migrate import upgrade


def test_each_side_signs_with_its_key_and_checks_with_the_others_certificate(tmp_path):
    env = exchange_env(tmp_path / "certs", customs_url="http://c", authority_url="http://a")
    assert env["SILKGATE_CUSTOMS_AUTHORITY_URL"] == "http://a" and env["SILKGATE_AUTHORITY_CUSTOMS_URL"] == "http://c"
    SigningIdentity.from_files(env["SILKGATE_CUSTOMS_SIGNING_KEY_FILE"], env["SILKGATE_CUSTOMS_SIGNING_CERT_FILE"])
    SigningIdentity.from_files(env["SILKGATE_AUTHORITY_SIGNING_KEY_FILE"],
                               env["SILKGATE_AUTHORITY_SIGNING_CERT_FILE"])
    assert env["SILKGATE_AUTHORITY_DECLARANT_CERT_FILE"] == env["SILKGATE_CUSTOMS_SIGNING_CERT_FILE"]
    assert env["SILKGATE_CUSTOMS_AUTHORITY_CERT_FILE"] == env["SILKGATE_AUTHORITY_SIGNING_CERT_FILE"]
    assert exchange_env(tmp_path / "certs", customs_url="http://c", authority_url="http://a") == env  # kept


def test_the_sandbox_authority_gets_one_active_authority_key_in_customs(tmp_path, monkeypatch):
    url = f"sqlite+aiosqlite:///{tmp_path / 'customs.db'}"
    monkeypatch.setenv("SILKGATE_CUSTOMS_DATABASE_URL", url)
    upgrade("customs", url)
    first = asyncio.run(rotate_sandbox_authority_key())
    second = asyncio.run(rotate_sandbox_authority_key())

    async def check() -> None:
        from services.customs import models

        db = Database(url)
        async with db.reader() as session:
            repository = ApiKeyRepository(models.tables.api_keys)
            assert await repository.find_active(session, first) is None  # rotated out
            principal = await repository.find_active(session, second)
        await db.dispose()
        assert (principal.role, principal.owner) == ("authority", SANDBOX_AUTHORITY_OWNER)

    asyncio.run(check())


def test_the_certs_command_makes_both_pairs_once(tmp_path):
    from click.testing import CliRunner

    from shared.cli import main

    first = CliRunner().invoke(main, ["certs", "--dir", str(tmp_path)])
    assert first.exit_code == 0, first.output
    assert {p.name for p in tmp_path.iterdir()} == {"customs.key", "customs.crt", "authority.key", "authority.crt"}
    second = CliRunner().invoke(main, ["certs", "--dir", str(tmp_path)])
    assert second.output == first.output  # kept, same fingerprints
