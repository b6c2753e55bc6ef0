"""Event handlers of the orders service."""

from __future__ import annotations

from shared.consumer import Handler
from shared.contract.events import Event

HANDLERS: dict[type[Event], Handler] = {}
