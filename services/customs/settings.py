"""Settings of the customs service (env prefix SILKGATE_CUSTOMS_)."""

from __future__ import annotations

from shared.settings import ServiceSettings, prefixed


class CustomsSettings(ServiceSettings):
    model_config = prefixed("customs")

    SERVICE: str = "customs"
