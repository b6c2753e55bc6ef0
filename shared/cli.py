"""The `silkgate` command: up, demo, migrate, keys, partners, certs, contract export, trace, logs, dlq (and serve,
used by up)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import click

from shared.auth import ROLES
from shared.cli_dlq import dlq
from shared.services import ALL_PROCESSES, SERVICE_NAMES
from shared.settings import data_dir as default_data_dir


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """silkgate — one pipeline for cross-border mail, express and e-commerce parcels."""


@main.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="SQLite files, JetStream store and logs [default: $SILKGATE_DATA_DIR, else ./var].")
@click.option("--demo/--no-demo", default=False, help="Also send demo parcels once the services are up.")
@click.option("--json", "raw_logs", is_flag=True, help="Print the services' raw JSON log lines.")
def up(data_dir: Path, demo: bool, raw_logs: bool) -> None:
    """Start nats-server, migrate, and run the three services and the sandbox carrier until Ctrl-C."""
    from shared.embedded import up as run_up

    run_up(data_dir=(data_dir or default_data_dir()).resolve(), demo=demo, raw_logs=raw_logs)


@main.command()
@click.argument("service", type=click.Choice(ALL_PROCESSES))
@click.option("--role", type=click.Choice(["all", "api", "worker"]), default="all", show_default=True,
              help="api: HTTP only; worker: relay, consumers and timers only; all: both in one process.")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def serve(service: str, role: str, host: str | None, port: int | None) -> None:
    """Run one service process (what `up` starts, and what a container runs)."""
    from shared.serve import serve as run_serve

    run_serve(service, role=role, host=host, port=port)


@main.command()
@click.argument("service", required=False, type=click.Choice(SERVICE_NAMES))
def migrate(service: str | None) -> None:
    """Apply the Alembic migrations of one service, or of all three."""
    from shared.migrate import upgrade
    from shared.services import settings_for

    for name in [service] if service else SERVICE_NAMES:
        upgrade(name, settings_for(name).resolved_database_url())
        click.echo(f"{name}: migrated to head")


@main.command()
@click.option("--orders-url", default=None, help="Default: the orders service's configured port on 127.0.0.1.")
@click.option("--customs-url", default=None)
@click.option("--postal-url", default=None)
@click.option("--wait/--no-wait", default=True, help="Follow the demo parcels until they settle.")
def demo(orders_url: str | None, customs_url: str | None, postal_url: str | None, wait: bool) -> None:
    """Create demo merchant and broker keys and send sample parcels of every channel."""
    from shared.demo import run_demo
    from shared.services import settings_for

    def local(service: str) -> str:
        return f"http://127.0.0.1:{settings_for(service).resolved_port()}"

    orders_url, customs_url, postal_url = (orders_url or local("orders"), customs_url or local("customs"),
                                           postal_url or local("postal"))
    asyncio.run(run_demo(orders_url=orders_url, customs_url=customs_url, postal_url=postal_url, wait=wait))


@main.group()
def keys() -> None:
    """API keys (stored hashed; a key is printed once, when it is created)."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--merchant", default=None, help="Merchant code (role merchant).")
@click.option("--owner", default=None,
              help="Owner: carrier code(s), broker id, ops team; for payment and logistics keys a registered "
                   "partner's code (silkgate partners add).")
@click.option("--name", required=True, help="Who or what the key is for.")
@click.option("--expires-in", default=None, help="The key stops working after this long: 90d, 12h, 30m, 2w.")
def keys_create(role: str, merchant: str | None, owner: str | None, name: str, expires_in: str | None) -> None:
    from shared.errors import SilkgateError
    from shared.keys import KeyRefused, create_key, parse_duration

    owner = merchant if role == "merchant" else owner
    if not owner:
        raise click.UsageError("--merchant is required for role merchant" if role == "merchant" else "--owner is required")
    try:
        lifetime = parse_duration(expires_in) if expires_in else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--expires-in") from None
    try:
        key_id, key = asyncio.run(create_key(role=role, owner=owner, name=name, expires_in=lifetime))
    except KeyRefused as exc:
        raise click.ClickException(str(exc)) from None
    except SilkgateError as error:
        raise click.ClickException(f"{error.detail} ({error.code})") from None
    expiry = f"\nexpires in {expires_in}" if expires_in else ""
    click.echo(f"key id: {key_id}\nrole:   {role}\nowner:  {owner}\nkey:    {key}{expiry}\n"
               "(store it now: it is not shown again)")


@keys.command("list")
def keys_list() -> None:
    from shared.keys import list_keys

    for row in asyncio.run(list_keys(SERVICE_NAMES)):
        state = "active" if row["active"] else f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}"
        if row["active"] and row.get("expires_at"):
            state = f"expires {row['expires_at']:%Y-%m-%d %H:%M}"
        click.echo(f"{row['id']}  {row['role']:<8} {row['owner']:<16} {row['prefix']}…  {state:<24} "
                   f"{','.join(row['services'])}  {row['name']}")


@keys.command("revoke")
@click.argument("key_id")
def keys_revoke(key_id: str) -> None:
    from shared.keys import revoke_key

    count = asyncio.run(revoke_key(key_id, SERVICE_NAMES))
    if not count:
        raise click.ClickException(f"no active key {key_id}")
    click.echo(f"revoked {key_id} in {count} service(s)")


@main.command("certs")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None,
              help="Where customs.{key,crt} and authority.{key,crt} are kept [default: <data dir>/certs].")
def certs_command(directory: Path) -> None:
    """Make the self-signed signing identities of customs and the sandbox authority if they are missing (what
    `silkgate up` does on first start; containers share the directory as a volume)."""
    from shared.certificates import certificate_fingerprint, ensure_pair

    directory = directory or default_data_dir() / "certs"
    for name, common_name in (("customs", "silkgate customs (declarant)"),
                              ("authority", "silkgate sandbox customs authority")):
        pair = ensure_pair(directory, name, common_name=common_name)
        fingerprint = certificate_fingerprint(pair.cert_file.read_bytes())
        click.echo(f"{name}: {pair.key_file} {pair.cert_file} sha256:{fingerprint}")


@main.group()
def secrets() -> None:
    """Secrets of a deployment (docker-compose.yml reads them as Docker secrets)."""


@secrets.command("init")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=Path("secrets"), show_default=True)
@click.option("--force", is_flag=True, help="Replace existing secrets (every service then needs the new ones).")
def secrets_init(directory: Path, force: bool) -> None:
    """Generate the PostgreSQL password, one NATS user per service, and the webhook secret encryption key."""
    from shared.secrets import init_secrets

    written = init_secrets(directory, force=force)
    for path in written:
        click.echo(f"wrote {path}")
    click.echo(f"secrets in {directory} (0600); keep them out of version control")


@main.group()
def webhooks() -> None:
    """Merchant webhooks: the signing secrets' encryption key."""


@webhooks.command("reencrypt")
def webhooks_reencrypt() -> None:
    """Encrypt every stored signing secret again under the first configured key (after adding a new one first);
    then the old key can be removed from SILKGATE_ORDERS_WEBHOOK_SECRET_KEYS(_FILE)."""
    from shared.db import Database
    from shared.services import settings_for

    async def run() -> int:
        from services.orders.webhooks.service import reencrypt_secrets

        settings = settings_for("orders")
        db = Database(settings.resolved_database_url())
        try:
            async with db.transaction() as session:
                return await reencrypt_secrets(session, settings)
        finally:
            await db.dispose()

    click.echo(f"re-encrypted the secrets of {asyncio.run(run())} endpoint(s) under the first key")


@main.group()
def partners() -> None:
    """Payment providers and external logistics companies, and the merchants each serves.

    A partner's keys (silkgate keys create --role payment|logistics --owner CODE) send its documents — payments,
    waybills — for the orders of the merchants bound to it, and nothing else.
    """


def _partners_call(call):
    """Run a registry use case; its log lines (an audit trail) go to stderr, the answer to stdout."""
    import contextlib

    from shared.errors import SilkgateError

    try:
        with contextlib.redirect_stdout(sys.stderr):
            return asyncio.run(call)
    except SilkgateError as error:
        raise click.ClickException(f"{error.detail} ({error.code})") from None


@partners.command("add")
@click.argument("code")
@click.option("--kind", type=click.Choice(["payment", "logistics"]), required=True)
@click.option("--name", required=True, help="The company's name (a payment's `provider` may name it).")
@click.option("--uscc", default=None, help="Its Unified Social Credit Code (GB 32100), checked.")
def partners_add(code: str, kind: str, name: str, uscc: str | None) -> None:
    """Register partner CODE (upper-case letters, digits, '-' and '_')."""
    from services.orders import partners_cli

    partner = _partners_call(partners_cli.add(code=code, kind=kind, name=name, uscc=uscc))
    click.echo(f"added {partner['kind']} partner {partner['code']} ({partner['name']}); bind it to its merchants "
               f"with `silkgate partners bind {partner['code']} MERCHANT`")


@partners.command("list")
@click.option("--kind", type=click.Choice(["payment", "logistics"]), default=None)
@click.option("--merchant", default=None, help="Only the partners serving this merchant.")
def partners_list(kind: str | None, merchant: str | None) -> None:
    from services.orders import partners_cli

    for partner in _partners_call(partners_cli.listing(kind=kind, merchant=merchant)):
        click.echo(partners_cli.line(partner))


@partners.command("bind")
@click.argument("code")
@click.argument("merchant")
def partners_bind(code: str, merchant: str) -> None:
    """Let partner CODE send documents for MERCHANT's orders."""
    from services.orders import partners_cli

    new = _partners_call(partners_cli.bind(code=code, merchant=merchant))
    click.echo(f"{code} serves {merchant}" + ("" if new else " (already)"))


@partners.command("unbind")
@click.argument("code")
@click.argument("merchant")
def partners_unbind(code: str, merchant: str) -> None:
    """Stop partner CODE acting for MERCHANT's orders, at once."""
    from services.orders import partners_cli

    _partners_call(partners_cli.unbind(code=code, merchant=merchant))
    click.echo(f"{code} no longer serves {merchant}")


@partners.command("deactivate")
@click.argument("code")
def partners_deactivate(code: str) -> None:
    """Stop every key of partner CODE acting for anyone, at once (bindings are kept)."""
    from services.orders import partners_cli

    _partners_call(partners_cli.set_active(code=code, active=False))
    click.echo(f"{code} deactivated")


@partners.command("activate")
@click.argument("code")
def partners_activate(code: str) -> None:
    from services.orders import partners_cli

    _partners_call(partners_cli.set_active(code=code, active=True))
    click.echo(f"{code} activated")


@main.group()
def contract() -> None:
    """The message contract: JSON Schemas and the AsyncAPI document."""


@contract.command("export")
@click.option("--out", default="docs/contract", show_default=True)
@click.option("--check", is_flag=True, help="Fail if the committed files differ or a change is breaking.")
def contract_export(out: str, check: bool) -> None:
    from shared.contract.export import run_export

    sys.exit(run_export(out, check=check))


@main.command("trace")
@click.argument("identifier")
@click.option("--log-dir", type=click.Path(path_type=Path), default=None,
              help="[default: <data dir>/log, the data dir being $SILKGATE_DATA_DIR, else ./var]")
@click.option("--json", "as_json", is_flag=True, help="Print the matching log entries as JSON lines.")
def trace_command(identifier: str, log_dir: Path, as_json: bool) -> None:
    """One parcel's journey across the three services, in time order (order id, tracking number,
    declaration id or correlation id). Reads var/log/*.jsonl, or standard input when piped."""
    from shared.trace import format_entry, parse_lines, read_log_dir, trace

    log_dir = log_dir or default_data_dir() / "log"
    entries = list(parse_lines(sys.stdin)) if _piped() else read_log_dir(log_dir)
    journey = trace(entries, identifier)
    if not journey:
        raise click.ClickException(f"nothing in the logs mentions {identifier}")
    for entry in journey:
        click.echo(json.dumps(entry) if as_json else format_entry(entry))


def _piped() -> bool:
    """True when log lines are piped in (`cat logs | silkgate trace ID`)."""
    import os
    import stat

    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (OSError, ValueError):
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


@main.command("logs")
@click.option("--log-dir", type=click.Path(path_type=Path), default=None,
              help="[default: <data dir>/log, the data dir being $SILKGATE_DATA_DIR, else ./var]")
@click.option("--from-start", is_flag=True, help="Print what is already there, then follow.")
def logs_command(log_dir: Path, from_start: bool) -> None:
    """Follow the services' logs merged in time order, one readable line per thing that happened."""
    from shared.console import follow_logs

    log_dir = log_dir or default_data_dir() / "log"
    if not log_dir.exists():
        raise click.ClickException(f"{log_dir} does not exist — start the system with `silkgate up`")
    try:
        follow_logs(log_dir, sys.stdout, from_start=from_start)
    except KeyboardInterrupt:
        pass


main.add_command(dlq)  # the dead letters' commands (shared/cli_dlq.py)

if __name__ == "__main__":
    main()
