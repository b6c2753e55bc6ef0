"""Back-pressure from the exchange with the customs authority (DESIGN.md "Back-pressure").

Intake's back-pressure (services/orders/backpressure.py) counts the events customs and postal have not consumed.
Customs consumes fast — opening a declaration, matching its documents, filing it — and the slow part comes after:
the gateway, the authority, its receipts. Without this, intake kept taking orders (and the CPU to take them) while
declarations piled up waiting on the authority, and fewer parcels were released per second at saturation than at a
moderate rate. So customs stops consuming new orders while more than `exchange_backlog_max` declarations wait on
the authority: its pending count on the orders stream then grows, and intake answers 429 through the channel it
already reads. Declarations already open go on (their documents come from the postal stream, which is not paused);
cancellations and payments on the orders stream wait behind the pause, in order.

It resumes below `exchange_backlog_resume` of the bound, so one receipt does not flip it back and forth.
"""

from __future__ import annotations

import asyncio

import structlog
from prometheus_client import Gauge

from services.customs.repository_exchange import ExchangeRepository
from services.customs.service import CustomsConfig
from shared.logging import safe_error
from shared.runtime import ServiceRuntime

log = structlog.get_logger()

EXCHANGE_BACKLOG = Gauge("silkgate_customs_exchange_backlog",
                         "Declarations filed and waiting on the customs authority (counted up to twice the bound)")
INTAKE_PAUSED = Gauge("silkgate_customs_intake_paused",
                      "1 while customs takes no new orders because its exchange with the authority is full")


def paused_after(waiting: int, *, paused: bool, bound: int, resume_fraction: float) -> bool:
    """Whether new orders wait, given `waiting` declarations on the authority: past the bound pause; once paused,
    resume only below resume_fraction × bound. A bound of 0 never pauses."""
    if bound <= 0:
        return False
    if paused:
        return waiting >= bound * resume_fraction
    return waiting > bound


class ExchangeBacklog:
    """Measures the exchange's backlog in the background; `paused()` is the orders consumer's gate."""

    def __init__(self, config: CustomsConfig) -> None:
        self.config = config
        self.waiting = 0
        self._paused = False

    def paused(self) -> bool:
        return self._paused

    def update(self, waiting: int) -> None:
        """Take a new count; log when intake pauses or resumes."""
        settings = self.config.backpressure
        self.waiting = waiting
        paused = paused_after(waiting, paused=self._paused, bound=settings.exchange_backlog_max,
                              resume_fraction=settings.exchange_backlog_resume)
        EXCHANGE_BACKLOG.set(waiting)
        INTAKE_PAUSED.set(int(paused))
        if paused != self._paused:
            event = "customs.intake_paused" if paused else "customs.intake_resumed"
            log.warning(event, waiting_on_authority=waiting, bound=settings.exchange_backlog_max)
        self._paused = paused

    async def watch(self, runtime: ServiceRuntime, stop: asyncio.Event) -> None:
        """A worker: count every `exchange_backlog_poll_s`; a failed count keeps the last decision."""
        settings = self.config.backpressure
        if settings.exchange_backlog_max <= 0:
            return
        while not stop.is_set():
            try:
                async with runtime.db.reader() as session:
                    waiting = await ExchangeRepository(session).awaiting_authority(
                        up_to=2 * settings.exchange_backlog_max)
                self.update(waiting)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a database hiccup: count again next time
                log.warning("customs.exchange_backlog_failed", error=safe_error(exc))
            try:
                await asyncio.wait_for(stop.wait(), timeout=settings.exchange_backlog_poll_s)
            except TimeoutError:
                pass
