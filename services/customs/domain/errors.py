"""Typed exceptions the customs domain raises; the service maps each `code` to a problem+json answer."""

from __future__ import annotations


class CustomsDomainError(Exception):
    """Base of every customs domain error; `code` is stable and machine-readable."""

    code = "customs_domain_error"


class UnknownCurrency(CustomsDomainError):
    """A currency the policy's rate table does not know."""

    code = "unknown_currency"

    def __init__(self, currency: str) -> None:
        super().__init__(f"no exchange rate to CNY for currency {currency!r}")
        self.currency = currency


class InvalidPolicy(CustomsDomainError):
    """A policy override that cannot be applied (unknown setting or a value of the wrong shape)."""

    code = "invalid_policy"


class TransitionNotAllowed(CustomsDomainError):
    """A broker or system action that the declaration's current status does not allow."""

    code = "transition_not_allowed"

    def __init__(self, current: str, action: str) -> None:
        super().__init__(f"action {action!r} is not allowed when the declaration is {current!r}")
        self.current = current
        self.action = action


class UnknownStatus(CustomsDomainError):
    """A customs status or CEB receipt code outside the known set."""

    code = "unknown_status"
