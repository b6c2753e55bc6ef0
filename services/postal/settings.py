"""Settings of the postal service (env prefix SILKGATE_POSTAL_)."""

from __future__ import annotations

from shared.settings import ServiceSettings, prefixed


class PostalSettings(ServiceSettings):
    model_config = prefixed("postal")

    SERVICE: str = "postal"
