"""Alembic per service: one environment and one version table each, run by the CLI and at embedded start-up."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import async_engine_from_config

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("orders", "customs", "postal")


def version_table(service: str) -> str:
    return f"alembic_version_{service}"


def alembic_config(service: str, url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"), ini_section=service)
    config.set_main_option("script_location", str(ROOT / "migrations" / service))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["service"] = service
    return config


def upgrade(service: str, url: str, revision: str = "head") -> None:
    """Bring one service's database to `revision` (blocking; runs its own event loop)."""
    if url.startswith("sqlite"):
        from sqlalchemy.engine import make_url

        database = make_url(url).database
        if database:
            Path(database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(service, url), revision)


async def upgrade_async(service: str, url: str) -> None:
    """Alembic drives its own loop, so it runs in a thread from async code."""
    await asyncio.to_thread(upgrade, service, url)


def run_env(service: str) -> None:
    """Body of migrations/<service>/env.py."""
    metadata = importlib.import_module(f"services.{service}.models").metadata
    config = context.config
    url = config.get_main_option("sqlalchemy.url")
    options = dict(target_metadata=metadata, version_table=version_table(service), render_as_batch=True,
                   compare_type=True)
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection: Connection) -> None:
        context.configure(connection=connection, **options)
        with context.begin_transaction():
            context.run_migrations()

    async def run_async() -> None:
        engine = async_engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
                                          poolclass=pool.NullPool, hide_parameters=True)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())
