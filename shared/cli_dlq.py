"""`silkgate dlq`: the dead letters for operators (shared.dlq), from the command line with the admin user."""

from __future__ import annotations

import asyncio
import json
import sys

import click

from shared.services import SERVICE_NAMES


@click.group()
def dlq() -> None:
    """Dead letters: messages a consumer gave up on (SILKGATE_DLQ), with their reason; replay or drop them.

    Talks to NATS at SILKGATE_NATS_URL (the embedded nats-server by default)."""


def _dead_letters(action):
    """Run `action(DeadLetters)` on a connection to the configured NATS."""
    from shared.bus import Bus
    from shared.dlq import DeadLetters
    from shared.services import settings_for

    _quiet_logs()

    async def run():
        bus = Bus(settings_for("orders").nats_url, connect_timeout_s=5)
        try:
            await bus.connect(retry=False)
        except Exception as exc:  # noqa: BLE001 - said plainly to the operator
            raise click.ClickException(f"cannot reach NATS at {bus.url}: {exc or type(exc).__name__}") from exc
        try:
            return await action(DeadLetters(bus.js))
        finally:
            await bus.close()

    return asyncio.run(run())


def _quiet_logs() -> None:
    """The command's own output is on stdout; the kit's log lines (bus.connected …) only when they warn, on stderr."""
    import logging

    import structlog

    structlog.configure(processors=[structlog.processors.add_log_level, structlog.dev.ConsoleRenderer(colors=False)],
                        wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING),
                        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr))


def _not_found(dead_letter_id: int) -> click.ClickException:
    return click.ClickException(f"no dead letter {dead_letter_id} (replayed, dropped, or never there)")


@dlq.command("list")
@click.option("--service", type=click.Choice(SERVICE_NAMES), default=None, help="Only this service's.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per dead letter.")
def dlq_list(service: str | None, limit: int, as_json: bool) -> None:
    """Dead letters, oldest first: id, service, attempts, subject, order and reason."""

    async def action(letters):
        return await letters.list(service=service, limit=limit), await letters.count(service)

    found, total = _dead_letters(action)
    if as_json:
        for letter in found:
            click.echo(json.dumps(letter.summary()))
        return
    if not found:
        click.echo("no dead letters" + (f" for {service}" if service else ""))
        return
    click.echo(f"{'ID':>6}  {'SERVICE':<8} {'TRIES':>5}  {'PARKED (UTC)':<19}  {'EVENT':<40} {'ORDER':<28} REASON")
    for letter in found:
        row = letter.summary()
        parked = letter.parked_at.strftime("%Y-%m-%d %H:%M:%S") if letter.parked_at else "?"
        click.echo(f"{row['id']:>6}  {row['service']:<8} {row['attempts']:>5}  {parked:<19}  "
                   f"{row['event_type'] or row['subject']:<40} {row['order_id'] or '-':<28} {row['reason'][:80]}")
    if total > len(found):
        click.echo(f"({len(found)} of {total}; --limit shows more)")


@dlq.command("show")
@click.argument("dead_letter_id", type=int)
def dlq_show(dead_letter_id: int) -> None:
    """One dead letter in full: reason, attempts, headers and the original event (JSON)."""
    from shared.dlq import DeadLetterNotFound

    async def action(letters):
        return await letters.get(dead_letter_id)

    try:
        letter = _dead_letters(action)
    except DeadLetterNotFound:
        raise _not_found(dead_letter_id) from None
    click.echo(json.dumps(letter.detail(), indent=2, default=str))


@dlq.command("replay")
@click.argument("dead_letter_ids", type=int, nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Every dead letter of --service.")
@click.option("--service", type=click.Choice(SERVICE_NAMES), default=None)
def dlq_replay(dead_letter_ids: tuple[int, ...], replay_all: bool, service: str | None) -> None:
    """Hand dead letters back to their service's consumer (idempotent: the inbox drops what was done)."""
    from shared.dlq import DeadLetterNotFound

    if replay_all == bool(dead_letter_ids) or (replay_all and not service):
        raise click.UsageError("give dead letter ids, or --all --service SERVICE")

    async def action(letters):
        if replay_all:
            return await letters.replay_all(service=service)
        replayed = []
        for dead_letter_id in dead_letter_ids:
            try:
                replayed.append(await letters.replay(dead_letter_id, service=service))
            except DeadLetterNotFound:
                click.echo(f"no dead letter {dead_letter_id}" + (f" for {service}" if service else ""), err=True)
        return replayed

    replayed = _dead_letters(action)
    for letter in replayed:
        click.echo(f"replayed {letter.id} to {letter.service} ({letter.subject})")
    click.echo(f"{len(replayed)} replayed")
    if len(replayed) < len(dead_letter_ids):
        sys.exit(1)


@dlq.command("drop")
@click.argument("dead_letter_ids", type=int, nargs=-1, required=True)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def dlq_drop(dead_letter_ids: tuple[int, ...], yes: bool) -> None:
    """Remove dead letters for good: their events will never be handled."""
    from shared.dlq import DeadLetterNotFound

    if not yes:
        click.confirm(f"Drop {len(dead_letter_ids)} dead letter(s) for good?", abort=True)

    async def action(letters):
        dropped, missing = [], []
        for dead_letter_id in dead_letter_ids:
            try:
                dropped.append(await letters.drop(dead_letter_id))
            except DeadLetterNotFound:
                missing.append(dead_letter_id)
        return dropped, missing

    dropped, missing = _dead_letters(action)
    for letter in dropped:
        click.echo(f"dropped {letter.id} ({letter.service}, {letter.subject})")
    for dead_letter_id in missing:
        click.echo(f"no dead letter {dead_letter_id}", err=True)
    if missing:
        sys.exit(1)
