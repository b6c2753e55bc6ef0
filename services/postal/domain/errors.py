"""Typed errors of the postal rules; the service maps them to its HTTP errors (this package imports no web code)."""

from __future__ import annotations


class PostalRuleError(ValueError):
    """Base of every postal rule violation; `reason` is a stable machine-readable code."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail or reason


class InvalidS10(PostalRuleError):
    """An S10 item identifier that breaks UPU S10 (reason: length, indicator, serial, check_digit, country)."""


class InvalidWaybillNumber(PostalRuleError):
    """A carrier waybill or logistics number that breaks its numbering scheme."""


class UnknownCarrier(PostalRuleError):
    """A carrier code with no numbering scheme configured."""


class InvalidS9(PostalRuleError):
    """An S9 receptacle or S8-style dispatch identifier part that breaks UPU S9."""


class InvalidManifest(PostalRuleError):
    """A dispatch manifest whose receptacles or items do not belong together."""
