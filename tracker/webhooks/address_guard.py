"""The SSRF guard: decides whether a webhook URL may be called, and at which IP.

A subscriber chooses the URL, so without a guard they could make Tracker POST into our
own network: the cloud metadata service, a database's HTTP port, an admin panel on
localhost (OWASP Server-Side Request Forgery Prevention Cheat Sheet, which names custom
webhooks as its example; Standard Webhooks spec, "Server side request forgery").

`check_target` resolves the host once, refuses the URL if *any* address is not public,
and returns a `Target` naming the one IP to connect to. The sender connects to that IP
and never resolves again, so a DNS answer that changes between check and connect (DNS
rebinding; the OWASP cheat sheet's "DNS pinning" bypass) cannot redirect the request.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from tracker.domain.errors import TrackerError

__all__ = [
    "IPAddress",
    "Resolver",
    "Target",
    "UnresolvableHost",
    "UnsafeTarget",
    "check_target",
    "system_resolver",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]
"""(host, port) → the host's addresses as IP strings, in the order to try them."""

_DEFAULT_PORTS = {"https": 443, "http": 80}
# Letters, digits, hyphens and underscores in dot-separated labels (ASCII, after IDNA).
# Validating the name before DNS follows the OWASP cheat sheet ("Domain name").
_HOST_NAME = re.compile(
    r"(?=.{1,253}\.?$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.)*"
    r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?\.?",
    re.IGNORECASE,
)

# Names that reach a cloud provider's instance metadata service (credentials live
# there). They are refused by name too, before any DNS, because a resolver inside the
# cloud answers them with a link-local address we would refuse anyway, but a resolver
# elsewhere may answer anything at all.
_METADATA_NAMES = frozenset(
    {
        "metadata.google.internal",  # Google Cloud
        "metadata.goog",  # Google Cloud
        "metadata",  # Google Cloud, short name via the search domain
        "instance-data",  # AWS EC2
        "instance-data.ec2.internal",  # AWS EC2
    }
)
# Metadata services by address: AWS/GCP/Azure/Oracle IPv4 and AWS Nitro IPv6, and
# Alibaba Cloud (inside 100.64/10). Refused even when private targets are allowed:
# no webhook legitimately goes there, and an opened door leaks instance credentials.
_METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
# Private networks proper (RFC 1918, and RFC 4193 unique local IPv6). Python's
# `is_private` also covers documentation and benchmark ranges; those are caught by
# `is_global` below with a truer name.
_PRIVATE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)
# RFC 6598 shared address space (carrier-grade NAT); Python's `is_private` omits it.
_SHARED_NAT = ipaddress.ip_network("100.64.0.0/10")
# RFC 6052 NAT64 well-known prefix: a NAT64 gateway forwards 64:ff9b::a.b.c.d to the
# IPv4 address a.b.c.d, yet Python calls the whole prefix global.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class UnsafeTarget(TrackerError):
    """A webhook URL that Tracker refuses to call; `reason` says why, for the subscriber."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnresolvableHost(TrackerError):
    """The host has no address right now (DNS failure); a later attempt may succeed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Target:
    """A checked webhook URL and the one IP address the request must go to."""

    url: str
    host: str  # ASCII (IDNA) host as written in the URL; goes in Host and TLS SNI
    port: int
    scheme: str
    ip: str


def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer for `host`, addresses in getaddrinfo's order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_target(url: str, *, allow_private: bool, resolve: Resolver) -> Target:
    """The `Target` for `url`, or `UnsafeTarget` saying why Tracker will not call it.

    `allow_private` (TRACKER_ALLOW_PRIVATE_WEBHOOKS, for tests and local setups) permits
    http and non-public addresses, but never a metadata service, link-local addresses,
    multicast or the unspecified address.
    """
    parsed = _parse(url, allow_private=allow_private)
    host = parsed.raw_host.decode("ascii")
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    addresses = _addresses(url, host, port, resolve)
    for answer, address in addresses:
        problem = _refusal(address, allow_private=allow_private)
        if problem:
            raise UnsafeTarget(f"{url} resolves to {answer}, {problem}")
    return Target(url=url, host=host, port=port, scheme=parsed.scheme, ip=str(addresses[0][1]))


def _parse(url: str, *, allow_private: bool) -> httpx.URL:
    # Parse with httpx, the very parser the sender uses: two parsers that disagree about
    # where the host ends are a classic SSRF bypass (Orange Tsai, "A New Era of SSRF",
    # cited by the OWASP cheat sheet).
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise UnsafeTarget(f"{url!r} is not a valid URL: {exc}") from None
    allowed = ("https", "http") if allow_private else ("https",)
    if parsed.scheme not in allowed:
        raise UnsafeTarget(f"{url} must use {' or '.join(allowed)}, not {parsed.scheme!r}")
    if parsed.userinfo:
        # Credentials in a URL end up in logs and delivery records, and `user@host`
        # misleads readers (and lax parsers) about which host is called (Orange Tsai).
        raise UnsafeTarget(f"{url} must not contain a user name or password")
    if not parsed.raw_host:
        raise UnsafeTarget(f"{url} has no host")
    name = parsed.raw_host.decode("ascii").lower().rstrip(".")
    if _as_ip(name) is None and not _HOST_NAME.fullmatch(name):
        raise UnsafeTarget(f"{url} does not name a valid host")
    if name in _METADATA_NAMES:
        raise UnsafeTarget(f"{url} names {name}, a cloud metadata service")
    return parsed


def _addresses(url: str, host: str, port: int, resolve: Resolver) -> list[tuple[str, IPAddress]]:
    """Each address as the resolver wrote it (for messages) and as parsed."""
    literal = _as_ip(host)
    if literal is not None:
        return [(host, literal)]  # an IP in the URL is checked as it stands; no DNS
    try:
        answers = resolve(host, port)
    except OSError as exc:
        raise UnresolvableHost(f"{url}: {host} does not resolve ({exc})") from None
    if not answers:
        raise UnresolvableHost(f"{url}: {host} has no addresses")
    addresses = []
    for answer in answers:
        address = _as_ip(answer)
        if address is None:
            raise UnsafeTarget(f"{url}: {host} resolved to {answer!r}, which is not an IP")
        addresses.append((answer, address))
    return addresses


def _as_ip(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    # A zone index (fe80::1%eth0) only makes sense for link-local, which we refuse;
    # drop it so the address compares equal to the networks below.
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        address = ipaddress.IPv6Address(text.split("%", 1)[0])
    return address


def _refusal(address: IPAddress, *, allow_private: bool) -> str | None:
    """Why `address` may not be called, or None. Embedded IPv4 is judged as IPv4."""
    embedded = _embedded_ipv4(address)
    if embedded is not None:
        problem = _refusal(embedded, allow_private=allow_private)
        return f"which leads to {embedded}, {problem}" if problem else None
    always = _always_refused(address)
    if always or allow_private:
        return always
    return _non_public(address)


def _embedded_ipv4(address: IPAddress) -> ipaddress.IPv4Address | None:
    # IPv6 forms that carry an IPv4 address and end up at it: IPv4-mapped
    # (::ffff:10.0.0.1, RFC 4291 §2.5.5.2), NAT64 (RFC 6052), 6to4 (RFC 3056) and
    # Teredo (RFC 4380). Without this, ::ffff:169.254.169.254 walks past the guard.
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _always_refused(address: IPAddress) -> str | None:
    if address in _METADATA_ADDRESSES:
        return "the cloud metadata service"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_link_local:
        # 169.254/16 and fe80::/10 hold more than 169.254.169.254: the AWS ECS task
        # credentials endpoint is 169.254.170.2. Nothing legitimate lives there.
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    return None


def _non_public(address: IPAddress) -> str | None:
    if address.is_loopback:
        return "a loopback address"
    if address in _SHARED_NAT:
        return "a shared (carrier-grade NAT) address"
    if any(address in network for network in _PRIVATE):
        return "a private address"
    if address.is_reserved:
        return "a reserved address"
    if not address.is_global:
        return "not a public address"
    return None
