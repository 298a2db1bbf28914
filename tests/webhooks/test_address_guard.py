"""The SSRF guard, with an injected resolver: no test here opens a connection.

Refused addresses are only ever *returned by a fake resolver*; the one test that sends
uses httpx.MockTransport, which records requests instead of opening sockets.
"""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.webhooks.address_guard import (
    Resolver,
    Target,
    UnresolvableHost,
    UnsafeTarget,
    check_target,
    system_resolver,
)
from tracker.webhooks.sender import send

URL = "https://hooks.example.test/in"
PUBLIC_V4 = "93.184.216.34"
PUBLIC_V6 = "2606:2800:220:1:248:1893:25c8:1946"


def answering(*addresses: str) -> Resolver:
    def resolve(host: str, port: int) -> list[str]:
        return list(addresses)

    return resolve


def never_called(host: str, port: int) -> list[str]:
    raise AssertionError(f"the guard resolved {host}:{port}, but it must not")


class RecordingResolver:
    """Answers from a script, one answer per call, and counts the calls."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls.append((host, port))
        return self.answers[min(len(self.calls), len(self.answers)) - 1]


class RecordingTransport(httpx.MockTransport):
    """Keeps every request it is handed and answers 204; never touches the network."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        super().__init__(self._answer)

    def _answer(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(204)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("10.0.0.5", "a private address"),
        ("172.16.3.4", "a private address"),
        ("192.168.1.10", "a private address"),
        ("169.254.169.254", "the cloud metadata service"),
        ("169.254.170.2", "a link-local address"),
        ("127.0.0.1", "a loopback address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fd12:3456::1", "a private address"),
        ("fd00:ec2::254", "the cloud metadata service"),
        ("::ffff:10.0.0.1", "which leads to 10.0.0.1, a private address"),
        ("::ffff:169.254.169.254", "which leads to 169.254.169.254, the cloud metadata service"),
        ("64:ff9b::a00:1", "which leads to 10.0.0.1, a private address"),
        ("2002:a00:1::1", "which leads to 10.0.0.1, a private address"),
        ("100.64.0.1", "a shared (carrier-grade NAT) address"),
        ("100.100.100.200", "the cloud metadata service"),
        ("0.0.0.0", "an unspecified address"),
        ("::", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("ff02::1", "a multicast address"),
        ("240.0.0.1", "a reserved address"),
        ("192.0.2.7", "not a public address"),
        ("198.18.0.1", "not a public address"),
    ],
)
def test_a_host_resolving_to_a_non_public_address_is_refused(address: str, reason: str) -> None:
    with pytest.raises(UnsafeTarget) as refused:
        check_target(URL, allow_private=False, resolve=answering(address))

    assert refused.value.reason == f"{URL} resolves to {address}, {reason}"


def test_one_private_address_among_public_ones_is_enough_to_refuse() -> None:
    with pytest.raises(UnsafeTarget, match=r"10\.0\.0\.5, a private address"):
        check_target(URL, allow_private=False, resolve=answering(PUBLIC_V4, "10.0.0.5"))


def test_a_host_resolving_to_public_addresses_is_accepted_and_pinned_to_the_first() -> None:
    target = check_target(URL, allow_private=False, resolve=answering(PUBLIC_V4, PUBLIC_V6))

    assert target == Target(
        url=URL, host="hooks.example.test", port=443, scheme="https", ip=PUBLIC_V4
    )


def test_the_resolver_is_asked_for_the_port_of_the_url() -> None:
    resolver = RecordingResolver([PUBLIC_V6])

    target = check_target(
        "https://hooks.example.test:8443/in", allow_private=False, resolve=resolver
    )

    assert resolver.calls == [("hooks.example.test", 8443)]
    assert (target.port, target.ip) == (8443, PUBLIC_V6)


def test_an_internationalised_host_is_checked_and_sent_in_its_ascii_form() -> None:
    resolver = RecordingResolver([PUBLIC_V4])

    target = check_target("https://bücher.example/hook", allow_private=False, resolve=resolver)

    assert target.host == "xn--bcher-kva.example"
    assert resolver.calls == [("xn--bcher-kva.example", 443)]


def test_plain_http_is_refused_unless_private_targets_are_allowed() -> None:
    with pytest.raises(UnsafeTarget, match="must use https, not 'http'"):
        check_target(
            "http://hooks.example.test/in", allow_private=False, resolve=answering(PUBLIC_V4)
        )

    target = check_target(
        "http://hooks.example.test/in", allow_private=True, resolve=answering(PUBLIC_V4)
    )
    assert (target.scheme, target.port) == ("http", 80)


@pytest.mark.parametrize(
    "url", ["ftp://hooks.example.test/in", "file:///etc/passwd", "gopher://hooks.example.test/"]
)
def test_schemes_other_than_http_and_https_are_always_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="must use https or http"):
        check_target(url, allow_private=True, resolve=never_called)


def test_a_url_with_a_user_name_or_password_is_refused() -> None:
    with pytest.raises(UnsafeTarget, match="user name or password"):
        check_target(
            "https://admin:hunter2@hooks.example.test/in", allow_private=False, resolve=never_called
        )


@pytest.mark.parametrize("url", ["https:///in", "not a url", "https://exa mple.test/"])
def test_a_url_without_a_usable_host_is_refused(url: str) -> None:
    with pytest.raises(UnsafeTarget):
        check_target(url, allow_private=False, resolve=never_called)


@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.5/in",
        "https://127.0.0.1:8080/in",
        "https://[::ffff:127.0.0.1]/in",
        "https://[fe80::1]/in",
        "https://169.254.169.254/latest/meta-data/",
    ],
)
def test_an_ip_literal_in_the_url_is_checked_the_same_way_without_dns(url: str) -> None:
    with pytest.raises(UnsafeTarget, match="resolves to"):
        check_target(url, allow_private=False, resolve=never_called)


def test_a_public_ip_literal_is_accepted_without_dns() -> None:
    target = check_target(f"https://[{PUBLIC_V6}]/in", allow_private=False, resolve=never_called)

    assert (target.host, target.ip) == (PUBLIC_V6, PUBLIC_V6)


@pytest.mark.parametrize(
    "url",
    [
        "https://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://metadata/",
        "http://instance-data/",
    ],
)
def test_metadata_names_are_refused_before_any_dns_even_when_private_is_allowed(
    url: str,
) -> None:
    with pytest.raises(UnsafeTarget, match="a cloud metadata service"):
        check_target(url, allow_private=True, resolve=never_called)


@pytest.mark.parametrize(
    "address",
    ["169.254.169.254", "fd00:ec2::254", "::ffff:169.254.169.254", "169.254.170.2", "fe80::1"],
)
def test_metadata_and_link_local_addresses_are_refused_even_when_private_is_allowed(
    address: str,
) -> None:
    with pytest.raises(UnsafeTarget):
        check_target(URL, allow_private=True, resolve=answering(address))


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.5", "100.64.0.1"])
def test_loopback_and_private_addresses_are_accepted_when_private_is_allowed(
    address: str,
) -> None:
    target = check_target(
        "http://hooks.example.test:8080/in", allow_private=True, resolve=answering(address)
    )

    assert target.ip == address


def test_a_dns_failure_is_reported_as_unresolvable_not_as_unsafe() -> None:
    def failing(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(UnresolvableHost, match="does not resolve"):
        check_target(URL, allow_private=False, resolve=failing)


def test_a_host_without_addresses_is_unresolvable() -> None:
    with pytest.raises(UnresolvableHost, match="has no addresses"):
        check_target(URL, allow_private=False, resolve=answering())


def test_a_resolver_answer_that_is_not_an_ip_is_refused() -> None:
    with pytest.raises(UnsafeTarget, match="not an IP"):
        check_target(URL, allow_private=False, resolve=answering("localhost"))


def test_the_system_resolver_returns_an_ip_literal_as_it_is() -> None:
    assert system_resolver("127.0.0.1", 443) == ["127.0.0.1"]


NON_PUBLIC_NETWORKS = [
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "100.64.0.0/10",
]


@given(
    st.sampled_from(NON_PUBLIC_NETWORKS).flatmap(lambda net: st.ip_addresses(network=net)),
    st.booleans(),
)
def test_every_address_of_a_non_public_ipv4_network_is_refused_plain_or_ipv4_mapped(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, mapped: bool
) -> None:
    answer = f"::ffff:{address}" if mapped else str(address)

    with pytest.raises(UnsafeTarget):
        check_target(URL, allow_private=False, resolve=answering(answer))


@given(
    st.sampled_from(["fc00::/7", "fe80::/10", "::1/128"]).flatmap(
        lambda net: st.ip_addresses(network=net)
    )
)
def test_every_address_of_a_non_public_ipv6_network_is_refused(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address,
) -> None:
    with pytest.raises(UnsafeTarget):
        check_target(URL, allow_private=False, resolve=answering(str(address)))


def test_dns_rebinding_cannot_move_the_request_off_the_checked_ip() -> None:
    # First answer public, every later answer loopback: the classic rebinding attack.
    resolver = RecordingResolver([PUBLIC_V4], ["127.0.0.1"])
    transport = RecordingTransport()
    target = check_target(URL, allow_private=False, resolve=resolver)

    with httpx.Client(transport=transport) as client:
        attempt = send(client, target, {"webhook-id": "msg_1"}, b"{}")

    assert attempt.ok
    assert len(resolver.calls) == 1, "the sender must not resolve the host again"
    (request,) = transport.requests
    assert request.url.host == PUBLIC_V4
    assert request.url.path == "/in"
    assert request.headers["host"] == "hooks.example.test"
    assert request.extensions["sni_hostname"] == "hooks.example.test"


def test_a_refused_target_never_reaches_the_wire() -> None:
    transport = RecordingTransport()

    with httpx.Client(transport=transport) as client, pytest.raises(UnsafeTarget):
        target = check_target(URL, allow_private=False, resolve=answering("169.254.169.254"))
        send(client, target, {"webhook-id": "msg_1"}, b"{}")

    assert transport.requests == []
