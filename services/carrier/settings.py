"""Settings of the sandbox carrier (env prefix SILKGATE_CARRIER_)."""

from __future__ import annotations

from pydantic import Field

from shared.settings import ServiceSettings, prefixed


class CarrierSettings(ServiceSettings):
    """The sandbox keeps its manifests and event plans in var/carrier.db and needs no broker."""

    model_config = prefixed("carrier")

    SERVICE: str = "carrier"

    # Where tracking events go, and the postal API key (role carrier) they are posted with. The key's owner in
    # postal names the carrier codes the sandbox plays: a comma-separated list (e.g. "SGPOST,SGX,SGE,SFX,DHL"),
    # or "*" for whichever carrier a manifest names.
    postal_url: str = "http://127.0.0.1:8003"
    api_key: str = ""
    # Optional: when set, POST /v1/manifests wants `Authorization: Bearer <manifest_api_key>`.
    manifest_api_key: str = ""

    # One tracking event per parcel every step_interval_s after the manifest arrives, so a demo shows progress.
    step_interval_s: float = 1.0
    post_batch_size: int = 200
    post_timeout_s: float = 5.0
    retry_backoff_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 5.0, 10.0, 30.0])
    # A parcel postal says was not handed to us (404/403) is tried again this many times (postal may not have
    # recorded the handoff yet when our first event is due), then given up.
    max_rejected_attempts: int = 20
