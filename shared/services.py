"""Where each service's factory and settings live, so the CLI can start any of them by name."""

from __future__ import annotations

import importlib
from typing import Any

SERVICE_NAMES = ("orders", "customs", "postal")
# The sandboxes: one process each, no broker, their tables made at start-up.
SANDBOXES = ("carrier", "authority")
ALL_PROCESSES = (*SERVICE_NAMES, *SANDBOXES)
_SETTINGS = {"orders": "OrdersSettings", "customs": "CustomsSettings", "postal": "PostalSettings",
             "carrier": "CarrierSettings", "authority": "AuthoritySettings"}


def settings_for(service: str, **overrides: Any) -> Any:
    """The service's settings, read from the environment, with `overrides` applied."""
    module = importlib.import_module(f"services.{service}.settings")
    return getattr(module, _SETTINGS[service])(**overrides)


def create_app_for(service: str, settings: Any = None) -> Any:
    return importlib.import_module(f"services.{service}.app").create_app(settings)


def metadata_for(service: str) -> Any:
    return importlib.import_module(f"services.{service}.models").metadata
