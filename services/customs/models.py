"""Tables of the customs service: its own metadata, its own database."""

from __future__ import annotations

from shared.auth import api_keys_table
from shared.consumer import inbox_table
from shared.db import make_base, new_metadata
from shared.outbox import outbox_table
from shared.runtime import ServiceTables

metadata = new_metadata()
Base = make_base(metadata)
tables = ServiceTables(metadata=metadata, outbox=outbox_table(metadata), inbox=inbox_table(metadata),
                       api_keys=api_keys_table(metadata))
