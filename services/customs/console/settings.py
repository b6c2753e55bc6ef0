"""Settings of the brokers' console (env prefix SILKGATE_CUSTOMS_CONSOLE_), read by the customs API process."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SILKGATE_CUSTOMS_CONSOLE_", extra="ignore", env_file=None)

    # A session lasts one working shift; signing in again starts a new one. Revoking the key ends it at once.
    session_ttl_s: float = Field(default=8 * 3600, gt=0)
    # Secure cookies: "auto" when the request came over https (behind a proxy: run uvicorn with proxy headers),
    # "always" to insist, "never" for plain-http test rigs.
    secure_cookie: Literal["auto", "always", "never"] = "auto"
    # How often an open queue page refreshes itself.
    refresh_s: float = Field(default=15.0, ge=2)
    page_size: int = Field(default=50, ge=5, le=200)
    # A declaration waiting for a broker longer than this is marked past its deadline (the documents deadline
    # applies instead while documents are awaited).
    queue_deadline_minutes: int = Field(default=120, ge=1)
