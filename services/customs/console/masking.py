"""Personal data masked until a broker asks to see it (the request is audited): names, phones, addresses,
e-mails and ID numbers. What routing and risk need to read at a glance — country, city, postal code, ID type —
stays visible.
"""

from __future__ import annotations

from typing import Any

MASK = "•"
PERSONAL_FIELDS = ("name", "phone", "address", "email", "id_number")


def mask_name(name: str) -> str:
    """Each word keeps its first character: "Li Lei" → "L• L••", "李雷" → "李•"."""
    return " ".join(word[:1] + MASK * (len(word) - 1) for word in name.split())


def mask_phone(phone: str) -> str:
    """Only the last four digits stay: "+86 138 0013 8000" → "+•• ••• •••• 8000"."""
    total = sum(c.isdigit() for c in phone)
    seen, out = 0, []
    for c in phone:
        if c.isdigit():
            seen += 1
            out.append(c if seen > total - 4 else MASK)
        else:
            out.append(c)
    return "".join(out)


def mask_id_number(id_number: str) -> str:
    """The last four characters stay (enough to tell two documents apart): "11010519491231002X" → "••…002X"."""
    keep = 4 if len(id_number) > 6 else 1
    return MASK * (len(id_number) - keep) + id_number[-keep:]


def mask_address(address: str) -> str:
    """Nothing of the street stays; its length is not worth hiding behind a fixed mask."""
    return MASK * 6 if address else address


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK * 3}@{domain}" if domain else MASK * 6


_MASKS = {"name": mask_name, "phone": mask_phone, "address": mask_address, "email": mask_email,
          "id_number": mask_id_number, "payer_name": mask_name, "payer_id_number": mask_id_number}


def mask_value(field: str, value: Any) -> Any:
    """`value` masked as its field's kind of personal data (untouched when the field is not personal)."""
    if not isinstance(value, str) or not value:
        return value
    mask = _MASKS.get(field)
    return mask(value) if mask else value


def mask_party(party: dict[str, Any] | None) -> dict[str, Any] | None:
    """A party (sender, consignee, buyer) with its personal fields masked."""
    if party is None:
        return None
    return {key: mask_value(key, value) for key, value in party.items()}
