"""The exchange's few typed errors; each names the field at fault and a stable code.

They are domain errors, not HTTP errors: customs turns a MessageRuleViolation into a held declaration for a broker,
the sandbox authority turns a received message's errors into problem+json.
"""

from __future__ import annotations


class ExchangeError(ValueError):
    """Base of the exchange's errors: `field` (a CEB element path or a JSON field), `code`, `detail`."""

    code = "exchange_error"

    def __init__(self, field: str, detail: str, *, code: str | None = None) -> None:
        super().__init__(f"{field}: {detail}")
        self.field = field
        self.detail = detail
        if code:
            self.code = code


class MessageRuleViolation(ExchangeError):
    """A message to be built breaks a field rule of DOMAIN.md §11: a length, a code table, an arithmetic rule,
    a format or the XSD. `code` says which kind: too_long, required, code_table, arithmetic, format, schema."""

    code = "message_rule_violation"


class MessageMalformed(ExchangeError):
    """A received envelope, message or receipt that cannot be read, or that its schema or model refuses."""

    code = "message_malformed"


class SignatureInvalid(ExchangeError):
    """A message or receipt whose signature is missing, does not verify, or was made with another certificate."""

    code = "signature_invalid"
