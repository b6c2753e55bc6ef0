"""Endpoint URL validation: the shape (pure) and the addresses (refused unless configuration allows)."""

from __future__ import annotations

import ipaddress

import pytest

from services.orders.webhooks import urls
from services.orders.webhooks.urls import AddressPolicy, UrlRefused

STRICT = AddressPolicy(allowed_ports=())
LOOPBACK_OK = AddressPolicy(allow_loopback=True, allowed_ports=())
PRIVATE_OK = AddressPolicy(allow_private_networks=True, allowed_ports=())


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://example.com/hooks", "url_scheme_not_allowed"),
    ("file:///etc/passwd", "url_scheme_not_allowed"),
    ("example.com/hooks", "url_scheme_not_allowed"),
    ("https://user:secret@example.com/hooks", "url_credentials_not_allowed"),
    ("https://user@example.com/hooks", "url_credentials_not_allowed"),
    ("https:///hooks", "url_host_required"),
    ("https://example.com:99999/hooks", "url_invalid"),
    ("https://exa mple.com/hooks", "url_invalid"),
    ("https://example.com/" + "a" * 2048, "url_too_long"),
])
def test_bad_shapes_are_refused_with_a_stable_code(url, code):
    with pytest.raises(UrlRefused) as refused:
        urls.parse_url(url)
    assert refused.value.code == code


def test_a_good_url_is_split_for_the_sender():
    endpoint = urls.parse_url("HTTPS://Shop.Example.com./silkgate/hooks?shop=7")
    assert (endpoint.scheme, endpoint.host, endpoint.port) == ("https", "shop.example.com", 443)
    assert endpoint.host_header == "shop.example.com"
    address = ipaddress.ip_address("93.184.216.34")
    assert endpoint.pinned_to(address) == "https://93.184.216.34:443/silkgate/hooks?shop=7"
    v6 = urls.parse_url("http://[2606:2800:220:1::1]:8080")
    assert v6.host_header == "[2606:2800:220:1::1]:8080"
    assert v6.pinned_to(ipaddress.ip_address("2606:2800:220:1::1")) == "http://[2606:2800:220:1::1]:8080/"


@pytest.mark.parametrize(("address", "kind"), [
    ("93.184.216.34", "public"),
    ("2606:2800:220:1::1", "public"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("::ffff:127.0.0.1", "loopback"),  # an IPv4-mapped address is judged by its IPv4 address
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("100.64.0.1", "private"),  # carrier-grade NAT: shared, not public
    ("169.254.169.254", "private"),  # link-local: the cloud metadata service
    ("fe80::1", "private"),
    ("fd00::1", "private"),
    ("0.0.0.0", "reserved"),
    ("::", "reserved"),
    ("224.0.0.1", "reserved"),
    ("240.0.0.1", "reserved"),
])
def test_addresses_are_classified(address, kind):
    assert urls.address_kind(ipaddress.ip_address(address)) == kind


def test_configuration_allows_loopback_and_private_separately_and_reserved_never():
    loopback, private, reserved = (ipaddress.ip_address(a) for a in ("127.0.0.1", "10.0.0.7", "0.0.0.0"))
    for address in (loopback, private, reserved):
        with pytest.raises(UrlRefused) as refused:
            urls.check_address(address, STRICT)
        assert refused.value.code == "url_private_address"
    urls.check_address(loopback, LOOPBACK_OK)
    urls.check_address(private, PRIVATE_OK)
    with pytest.raises(UrlRefused):
        urls.check_address(private, LOOPBACK_OK)
    with pytest.raises(UrlRefused):
        urls.check_address(loopback, PRIVATE_OK)
    with pytest.raises(UrlRefused):
        urls.check_address(reserved, AddressPolicy(allow_loopback=True, allow_private_networks=True))


async def test_a_host_name_is_resolved_and_every_address_checked():
    with pytest.raises(UrlRefused) as refused:
        await urls.validate_url("http://localhost:8080/hooks", STRICT)
    assert refused.value.code == "url_private_address"
    endpoint = await urls.validate_url("http://localhost:8080/hooks", LOOPBACK_OK)
    assert endpoint.port == 8080


async def test_literal_addresses_need_no_resolver():
    addresses = await urls.resolve(urls.parse_url("http://127.0.0.1:9/x"), LOOPBACK_OK)
    assert addresses == [ipaddress.ip_address("127.0.0.1")]


async def test_a_host_that_does_not_resolve_is_refused():
    with pytest.raises(UrlRefused) as refused:
        await urls.validate_url("https://no-such-host.invalid/hooks", STRICT)
    assert refused.value.code == "url_host_unresolvable"


@pytest.mark.parametrize("wrapper", [
    "2002:7f00:1::",                           # 6to4 of 127.0.0.1
    "2002:a00:1::1",                           # 6to4 of 10.0.0.1
    "2002:a9fe:a9fe::",                        # 6to4 of 169.254.169.254 (cloud metadata)
    "2001:0:4136:e378:8000:63bf:80ff:fffe",    # Teredo, client 127.0.0.1 (obfuscated)
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",    # Teredo, client 10.0.0.1
    "64:ff9b::7f00:1",                         # NAT64 of 127.0.0.1
    "64:ff9b::a9fe:a9fe",                      # NAT64 of 169.254.169.254
    "64:ff9b:1::a00:1",                        # local-use NAT64 of 10.0.0.1
    "::ffff:127.0.0.1", "::127.0.0.1",         # mapped and compatible forms
])
async def test_ipv6_wrappers_of_private_addresses_are_refused(wrapper):
    with pytest.raises(UrlRefused) as refused:
        await urls.validate_url(f"http://[{wrapper}]/hooks", AddressPolicy())
    assert refused.value.code == "url_private_address"


def test_a_6to4_address_of_a_public_host_is_public():
    assert urls.address_kind(ipaddress.ip_address("2002:808:808::1")) == "public"


async def test_ports_other_than_80_and_443_are_refused_unless_configured():
    with pytest.raises(UrlRefused) as refused:
        await urls.validate_url("https://93.184.216.34:8443/hooks", AddressPolicy())
    assert refused.value.code == "url_port_not_allowed"
    for url in ("https://93.184.216.34/hooks", "http://93.184.216.34:80/hooks"):
        await urls.validate_url(url, AddressPolicy())
    await urls.validate_url("https://93.184.216.34:8443/hooks", AddressPolicy(allowed_ports=(443, 8443)))
