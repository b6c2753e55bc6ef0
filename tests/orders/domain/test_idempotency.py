"""Request fingerprints for Idempotency-Key (Stripe semantics, DESIGN.md)."""

from services.orders.domain.idempotency import canonical_json, request_fingerprint

BODY = b'{"merchant_order_no": "MAIL-1", "lines": [{"sku": "A", "quantity": "2"}], "currency": "CNY"}'


def fingerprint(body: bytes, method: str = "POST", path: str = "/v1/orders") -> str:
    return request_fingerprint(method, path, body)


def test_is_a_sha256_hex_digest() -> None:
    digest = fingerprint(BODY)
    assert len(digest) == 64 and all(char in "0123456789abcdef" for char in digest)


def test_key_order_and_whitespace_do_not_matter() -> None:
    reordered = (
        b'{\n  "currency": "CNY",\n  "lines": [{"quantity": "2", "sku": "A"}],\n  "merchant_order_no": "MAIL-1"\n}'
    )
    assert fingerprint(reordered) == fingerprint(BODY)


def test_unicode_escapes_and_literal_characters_are_the_same_json() -> None:
    assert fingerprint('{"name": "王芳"}'.encode()) == fingerprint(b'{"name": "\\u738b\\u82b3"}')


def test_a_different_value_or_list_order_is_a_different_request() -> None:
    assert fingerprint(BODY.replace(b'"2"', b'"3"')) != fingerprint(BODY)
    assert fingerprint(b'{"lines": [1, 2]}') != fingerprint(b'{"lines": [2, 1]}')


def test_method_and_path_are_part_of_the_request() -> None:
    assert fingerprint(BODY, method="post") == fingerprint(BODY, method="POST")
    assert fingerprint(BODY, method="PUT") != fingerprint(BODY)
    assert fingerprint(BODY, path="/v1/orders/O1/cancel") != fingerprint(BODY)


def test_a_non_json_body_is_fingerprinted_as_raw_bytes() -> None:
    assert fingerprint(b"not json") == fingerprint(b"not json")
    assert fingerprint(b"not json") != fingerprint(b"not  json")
    assert fingerprint(b"\xff\xfe\x00") != fingerprint(b"")


def test_a_raw_body_never_collides_with_a_json_body() -> None:
    json_body = b'{"a":1}'
    assert canonical_json(json_body) == json_body  # already canonical, yet hashed under its own tag
    assert fingerprint(json_body) != fingerprint(b'{"a":1')


def test_empty_body_is_stable_and_not_json() -> None:
    assert canonical_json(b"") is None
    assert fingerprint(b"", method="DELETE") == fingerprint(b"", method="DELETE")


def test_absurdly_nested_json_falls_back_to_raw_bytes() -> None:
    assert canonical_json(b"[" * 100_000) is None
    assert len(fingerprint(b"[" * 100_000)) == 64
