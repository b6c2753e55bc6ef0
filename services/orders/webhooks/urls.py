"""Endpoint URL validation: the URL's shape (pure) and the addresses its host resolves to.

Webhooks make our servers send requests to addresses merchants choose, so without these checks a merchant could
make silkgate call its own database, the cloud metadata service (169.254.169.254) or anything else on our network
(server-side request forgery). Refused: other schemes than http/https, credentials in the URL, and hosts resolving
to loopback, private, link-local, shared, multicast, reserved or unspecified addresses; loopback and private ranges
can be allowed by configuration (the embedded mode and tests deliver to 127.0.0.1). Every address a host resolves
to must pass, and the check runs again at each send (a host may resolve elsewhere later: DNS rebinding).
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
from concurrent.futures import Executor
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = ("http", "https")
DEFAULT_PORTS = {"http": 80, "https": 443}

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UrlRefused(ValueError):
    """A URL we will not deliver to; `code` is the stable problem code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class AddressPolicy:
    """Which non-public addresses and which ports configuration allows (no ports listed: any port)."""

    allow_loopback: bool = False
    allow_private_networks: bool = False
    allowed_ports: tuple[int, ...] = (80, 443)


@dataclass(frozen=True)
class EndpointUrl:
    """A URL that passed the shape checks, split into what the sender needs."""

    url: str
    scheme: str
    host: str  # without brackets for IPv6
    port: int
    parts: SplitResult

    @property
    def host_header(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def pinned_to(self, address: IpAddress) -> str:
        """The same URL with the host replaced by a resolved address: the request goes where we checked."""
        host = f"[{address}]" if address.version == 6 else str(address)
        return urlunsplit((self.scheme, f"{host}:{self.port}", self.parts.path or "/", self.parts.query, ""))


def parse_url(url: str) -> EndpointUrl:
    """The URL's shape: http(s), a host, no user:password, a valid port. Raises UrlRefused."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlRefused("url_too_long", f"a webhook URL has at most {MAX_URL_LENGTH} characters")
    if any(ch.isspace() or ord(ch) < 0x20 for ch in url):
        raise UrlRefused("url_invalid", "the URL contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("url_invalid", f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ALLOWED_SCHEMES:
        raise UrlRefused("url_scheme_not_allowed",
                         f"webhook URLs are http or https, not {parts.scheme or 'a URL without a scheme'}")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("url_credentials_not_allowed",
                         "a webhook URL carries no user name or password; verify our signature instead")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UrlRefused("url_host_required", "the URL needs a host, e.g. https://example.com/webhooks")
    return EndpointUrl(url=url, scheme=scheme, host=host, port=port or DEFAULT_PORTS[scheme], parts=parts)


# IPv6 prefixes that carry an IPv4 address inside (RFC 6052 NAT64, well-known and local-use).
NAT64_PREFIXES = (ipaddress.IPv6Network("64:ff9b::/96"), ipaddress.IPv6Network("64:ff9b:1::/48"))
_SEVERITY = {"public": 0, "private": 1, "loopback": 2, "reserved": 3}


def embedded_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address wraps: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible (::a.b.c.d), 6to4
    (2002:AABB:CCDD::/48), Teredo (2001:0::/32, both the server and the client), NAT64 (64:ff9b::a.b.c.d)."""
    found = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    packed = address.packed
    if any(address in prefix for prefix in NAT64_PREFIXES) or (packed[:12] == bytes(12) and packed[12:] != bytes(4)
                                                                and int(address) > 1):
        found.append(ipaddress.IPv4Address(packed[12:]))
    return found


def address_kind(address: IpAddress) -> str:
    """"public", or the kind of non-public address: loopback, private, reserved (never deliverable). An IPv6 address
    wrapping an IPv4 one (6to4, Teredo, NAT64, mapped) is as bad as the worst address it wraps: [2002:7f00:1::]
    reaches 127.0.0.1 through a 6to4 relay."""
    if isinstance(address, ipaddress.IPv6Address):
        wrapped = embedded_ipv4(address)
        if wrapped:
            kinds = [_own_kind(address)] + [_own_kind(inner) for inner in wrapped]
            return max(kinds, key=_SEVERITY.__getitem__)
    return _own_kind(address)


def _own_kind(address: IpAddress) -> str:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return _own_kind(address.ipv4_mapped)
    if address.is_loopback:
        return "loopback"
    if address.is_unspecified or address.is_multicast or address.is_reserved:
        return "reserved"
    if address.is_link_local or address.is_private or not address.is_global:
        return "private"
    return "public"


def check_address(address: IpAddress, policy: AddressPolicy) -> None:
    """Raise UrlRefused(url_private_address) unless the address is public or configuration allows its kind."""
    kind = address_kind(address)
    allowed = (kind == "public" or (kind == "loopback" and policy.allow_loopback)
               or (kind == "private" and policy.allow_private_networks))
    if not allowed:
        raise UrlRefused("url_private_address",
                         f"the URL's host resolves to a {kind} address ({address}); webhooks go to public addresses")


def check_port(endpoint: EndpointUrl, policy: AddressPolicy) -> None:
    """Raise UrlRefused(url_port_not_allowed) unless the port is allowed (80 and 443 by default)."""
    if policy.allowed_ports and endpoint.port not in policy.allowed_ports:
        allowed = ", ".join(str(port) for port in policy.allowed_ports)
        raise UrlRefused("url_port_not_allowed", f"webhook URLs use port {allowed}, not {endpoint.port}")


def literal_address(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


async def resolve(endpoint: EndpointUrl, policy: AddressPolicy, *,
                  executor: Executor | None = None) -> list[IpAddress]:
    """Every address the host resolves to (getaddrinfo in a thread of `executor`, default: the loop's), all checked,
    and the port; raises UrlRefused."""
    check_port(endpoint, policy)
    literal = literal_address(endpoint.host)
    if literal is not None:
        addresses = [literal]
    else:
        lookup = functools.partial(socket.getaddrinfo, endpoint.host, endpoint.port, 0, socket.SOCK_STREAM)
        try:
            infos = await asyncio.get_running_loop().run_in_executor(executor, lookup)
        except (socket.gaierror, UnicodeError) as exc:
            raise UrlRefused("url_host_unresolvable", f"the host {endpoint.host} does not resolve: {exc}") from exc
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos))
        if not addresses:
            raise UrlRefused("url_host_unresolvable", f"the host {endpoint.host} has no address")
    for address in addresses:
        check_address(address, policy)
    return addresses


async def validate_url(url: str, policy: AddressPolicy) -> EndpointUrl:
    """Shape and addresses of an endpoint URL; raises UrlRefused."""
    endpoint = parse_url(url)
    await resolve(endpoint, policy)
    return endpoint
