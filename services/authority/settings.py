"""Settings of the sandbox customs authority (env prefix SILKGATE_AUTHORITY_).

How it answers: every filing gets 2 (declaring) then 120 (accepted), then a decision: 800 released, or 300 manual
review, 500 inspection, 100 rejected — by the first matching rule, else at the configured rates (a seeded draw per
message guid, so the same message always gets the same answer). Rules are JSON, e.g.

    SILKGATE_AUTHORITY_RULES='[{"order_no_prefix": "R300-", "answer": 300},
                               {"hs_prefix": "9303", "answer": 500, "failed_answer": 502},
                               {"order_no_prefix": "R100-", "answer": 100, "info": "undervalued"}]'
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shared.settings import ServiceSettings, data_dir, prefixed


class Rule(BaseModel):
    """When a filing matches every matcher given, the authority answers `answer` (and `failed_answer` when an
    inspection it ordered fails)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    order_no_prefix: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    hs_prefix: Annotated[str, Field(min_length=1, max_length=10, pattern=r"^[0-9]+$")] | None = None
    message_type: Literal["CEB621", "CEB603", "CUSITM", "EXPMANIFEST"] | None = None
    answer: Literal[100, 300, 500, 800]
    failed_answer: Annotated[int, Field(ge=100, le=599)] = 100
    info: Annotated[str, Field(min_length=1, max_length=500)] | None = None

    @model_validator(mode="after")
    def _sensible(self) -> Rule:
        if not (self.order_no_prefix or self.hs_prefix or self.message_type):
            raise ValueError("a rule needs order_no_prefix, hs_prefix or message_type")
        if self.failed_answer != 100 and not 501 <= self.failed_answer <= 599:
            raise ValueError("failed_answer is 100 (rejected) or 501–599 (detained)")
        return self


class AuthoritySettings(ServiceSettings):
    """The sandbox keeps what it received and the receipts it plans in var/authority.db; it needs no broker."""

    model_config = prefixed("authority")

    SERVICE: str = "authority"

    # Where receipts go, and the customs API key (role authority) they are posted with.
    customs_url: str = "http://127.0.0.1:8002"
    api_key: str = ""
    # Optional: when set, POST /v1/messages and the GET endpoints want `Authorization: Bearer <filer_api_key>`.
    filer_api_key: str = ""

    # The authority signs receipts with its key; it checks filings against the filer's (customs') certificate.
    # Empty: var/certs/authority.{key,crt} (made on first start) and var/certs/customs.crt.
    signing_key_file: str = ""
    signing_cert_file: str = ""
    declarant_cert_file: str = ""

    # Seconds between the steps of a filing's receipts: received → 2, 2 → 120, 120 → the decision,
    # an answer (REVIEWANSWER, INSPECTIONRECORD) → 399, 399 → 800.
    declaring_delay_s: float = Field(default=0.5, ge=0)
    accepted_delay_s: float = Field(default=1.0, ge=0)
    decision_delay_s: float = Field(default=2.0, ge=0)
    conclusion_delay_s: float = Field(default=1.0, ge=0)
    release_delay_s: float = Field(default=1.0, ge=0)

    # Decisions without a matching rule: drawn per message guid from `seed`; the rest is released (800).
    review_rate: float = Field(default=0.0, ge=0, le=1)
    inspection_rate: float = Field(default=0.0, ge=0, le=1)
    reject_rate: float = Field(default=0.0, ge=0, le=1)
    seed: int = 0
    rules: list[Rule] = Field(default_factory=list)

    # Posting receipts: retried with backoff until customs answers 2xx for each. The plan is looked at
    # every poll_interval_s while nothing is due.
    poll_interval_s: float = Field(default=0.1, gt=0)
    # After a round that delivered some receipts (fewer than post_batch_size), the next looks this much later: a
    # round costs three transactions and a request whatever it carries, and looking again at once made rounds of
    # a receipt or two at a steady 100 orders/s. A full round is followed at once.
    post_gather_s: float = Field(default=0.025, ge=0)
    post_batch_size: int = Field(default=100, ge=1)
    post_concurrency: int = Field(default=16, ge=1)  # declarations whose receipts are posted at once
    post_timeout_s: float = Field(default=5.0, gt=0)
    # Receipts per request to customs' POST /v1/receipts/batch; 1 posts each alone to POST /v1/receipts, as the
    # single window does (SILKGATE_AUTHORITY_RECEIPT_BATCH=1).
    receipt_batch: int = Field(default=50, ge=1, le=100)
    # Records one signed receipt document carries in a batch (several messages answered under one signature, as
    # the schema allows): a signature each was two thirds of the authority's work, and its check most of customs'
    # receipt endpoint. 1 signs each receipt alone (SILKGATE_AUTHORITY_RECEIPT_RECORDS=1).
    receipt_records: int = Field(default=10, ge=1, le=100)
    retry_backoff_s: list[float] = Field(default_factory=lambda: [1.0, 2.0, 5.0, 10.0, 30.0])

    @model_validator(mode="after")
    def _rates(self) -> AuthoritySettings:
        if self.review_rate + self.inspection_rate + self.reject_rate > 1:
            raise ValueError("review_rate + inspection_rate + reject_rate must not exceed 1")
        return self

    def key_file(self) -> Path:
        return Path(self.signing_key_file) if self.signing_key_file else data_dir() / "certs" / "authority.key"

    def cert_file(self) -> Path:
        return Path(self.signing_cert_file) if self.signing_cert_file else data_dir() / "certs" / "authority.crt"

    def customs_cert_file(self) -> Path:
        return Path(self.declarant_cert_file) if self.declarant_cert_file else data_dir() / "certs" / "customs.crt"
