"""Webhook signatures: what we send verifies with the README's function; anything altered does not."""

from __future__ import annotations

import hashlib
import hmac

from services.orders.webhooks import signing

SECRET = "whsec_test_5b1f0c9e2d7a4f3b8c6e1a20"
BODY = b'{"id":"evt_1","type":"order.accepted"}'
NOW = 1_772_330_400


def test_the_header_is_an_hmac_sha256_of_timestamp_dot_body():
    header = signing.signature_header(SECRET, NOW, BODY)
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert header == f"t={NOW},v1={expected}"


def test_a_signed_body_verifies():
    assert signing.verify(SECRET, signing.signature_header(SECRET, NOW, BODY), BODY, now=NOW + 10)


def test_another_secret_body_or_timestamp_does_not_verify():
    header = signing.signature_header(SECRET, NOW, BODY)
    assert not signing.verify("whsec_other", header, BODY, now=NOW)
    assert not signing.verify(SECRET, header, BODY.replace(b"accepted", b"delivered"), now=NOW)
    forged_time = header.replace(f"t={NOW}", f"t={NOW + 1}")
    assert not signing.verify(SECRET, forged_time, BODY, now=NOW)


def test_an_old_signature_is_refused_past_the_tolerance():
    header = signing.signature_header(SECRET, NOW, BODY)
    assert signing.verify(SECRET, header, BODY, tolerance_s=300, now=NOW + 300)
    assert not signing.verify(SECRET, header, BODY, tolerance_s=300, now=NOW + 301)
    assert not signing.verify(SECRET, header, BODY, tolerance_s=300, now=NOW - 301)


def test_one_matching_v1_among_several_is_enough():
    header = f"t={NOW},v1={'0' * 64},v1={signing.signature(SECRET, NOW, BODY)}"
    assert signing.verify(SECRET, header, BODY, now=NOW)


def test_malformed_headers_do_not_verify():
    for header in ("", "garbage", f"v1={signing.signature(SECRET, NOW, BODY)}", "t=soon,v1=abc", f"t={NOW}"):
        assert not signing.verify(SECRET, header, BODY, now=NOW)


def test_verify_uses_the_clock_by_default():
    import time

    now = int(time.time())
    assert signing.verify(SECRET, signing.signature_header(SECRET, now, BODY), BODY)


def test_secrets_are_prefixed_and_unique():
    first, second = signing.new_secret(), signing.new_secret()
    assert first.startswith("whsec_") and len(first) > 40 and first != second
