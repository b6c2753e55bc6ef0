"""The customs service: create_app builds the FastAPI app without I/O; the lifespan connects.

One declaration per parcel whatever its channel: opened from order.accepted, matched with its payment and
waybill, checked before filing, then filed with the customs authority as standard messages, or held for a broker
who amends and files it, or rejects it. The authority decides release: its receipts come in at /v1/receipts.
Brokers work the queue through /v1/declarations with API keys of role `broker` (`ops` keys may read), or in a
browser through the console at /console/ (services/customs/console).
"""

from __future__ import annotations

from fastapi import FastAPI

from services.customs.api import router
from services.customs.backpressure import ExchangeBacklog
from services.customs.console.routes import install_console
from services.customs.consumers import build_handlers, build_prefetchers
from services.customs.deadlines import documents_deadline_worker
from services.customs.exchange import gateway_worker
from services.customs.models import tables
from services.customs.service import CustomsConfig
from services.customs.settings import CustomsSettings
from shared.app import build_app
from shared.migrate import upgrade_async
from shared.runtime import ServiceRuntime


def create_app(settings: CustomsSettings | None = None) -> FastAPI:
    """Build the customs app; pass settings in tests, read the environment otherwise."""
    settings = settings or CustomsSettings()
    config = CustomsConfig.from_settings(settings)

    async def migrate(url: str) -> None:
        await upgrade_async("customs", url)

    backlog = ExchangeBacklog(config)
    runtime = ServiceRuntime(settings=settings, tables=tables, handlers=build_handlers(config),
                             prefetchers=build_prefetchers(config),
                             workers=[documents_deadline_worker, gateway_worker, backlog.watch],
                             migrate=migrate if settings.migrate_on_start else None,
                             # New orders wait while the exchange with the authority is full (backpressure.py).
                             pause_consumers={"orders": backlog.paused})
    runtime.extras["customs"] = config
    runtime.on_start.append(config.load_credentials)
    app = build_app(runtime, title="silkgate customs", description=__doc__ or "", routers=[router])
    install_console(app)
    return app
