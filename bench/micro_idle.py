"""What an idle worker process costs: CPU ms per second and SQL statements per second by statement.

    python -m bench.micro_idle orders|postal   (PostgreSQL at 127.0.0.1:5432/test)

Starts the service's workers (relay, consumers, timers) on a fresh database and a private nats-server, waits 3 s,
then counts 10 s of nothing to do.
"""
import asyncio
import collections
import sys
import time
import uuid

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import Database
from shared.natsserver import NatsServer

which = sys.argv[1]
if which == "postal":
    from services.postal.app import create_app
    from services.postal.models import metadata
    from services.postal.settings import PostalSettings as S
else:
    from services.orders.app import create_app
    from services.orders.models import metadata
    from services.orders.settings import OrdersSettings as S
counts = collections.Counter()
def on(conn, cursor, statement, *a):
    counts[" ".join(statement.split())[:110]] += 1
async def main():
    admin = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:5432/test", isolation_level="AUTOCOMMIT")
    name = f"idle_{uuid.uuid4().hex[:6]}"
    async with admin.connect() as c: await c.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    db = Database(url)
    async with db.engine.begin() as c: await c.run_sync(metadata.create_all)
    await db.dispose()
    nats = NatsServer(); nats.start()
    try:
        kw = dict(run_api=False) if which == "orders" else {}
        app = create_app(S(database_url=url, nats_url=nats.url, migrate_on_start=False, log_level="WARNING", **kw))
        async with app.router.lifespan_context(app):
            await asyncio.sleep(3)
            event.listen(Engine, "before_cursor_execute", on)
            t = time.process_time()
            await asyncio.sleep(10)
            cpu = time.process_time() - t
        print(f"{which} idle: CPU {cpu*100:.1f} ms/s; statements/s {sum(counts.values())/10:.1f}")
        for k, v in counts.most_common(12): print(f"  {v/10:5.1f}/s {k}")
    finally:
        nats.cleanup()
        async with admin.connect() as c: await c.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
asyncio.run(main())
