"""One delivery attempt over HTTP: POST a signed body to a checked `Target`, record it.

This module owns the wire: it connects to the IP that `address_guard.check_target`
approved (never resolving the host again), keeps the original host name for the
``Host`` header and for TLS, never follows a redirect, and turns whatever happens into
an `Attempt` the outbox can store. It does not retry; `retry_schedule` decides when.
It never sees a secret: `signing.sign_headers` has already turned secrets into
signatures.
"""

from __future__ import annotations

import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from math import ceil

import httpx

from tracker.webhooks.address_guard import Target

__all__ = ["RESPONSE_BODY_LIMIT", "Attempt", "delivery_client", "send"]

RESPONSE_BODY_LIMIT = 1024  # bytes of the receiver's answer kept for the delivery log
_USER_AGENT = "Tracker-Webhooks/1"
_DELTA_SECONDS = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Attempt:
    """What one POST to a receiver came to. `status` is None when no response arrived."""

    status: int | None
    ok: bool
    latency_ms: int
    response_body: str
    error: str | None
    retry_after_seconds: int | None
    gone: bool


def delivery_client() -> httpx.Client:
    """An httpx client fit for webhooks: no redirects, no proxies from env, no cookies.

    ``trust_env=False`` keeps HTTP(S)_PROXY from routing the request anywhere but the
    checked IP; a cookie policy that accepts no domain keeps one receiver's cookies from
    riding along to another receiver on the same IP.
    """
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.Client(follow_redirects=False, trust_env=False, cookies=no_cookies)


def send(
    client: httpx.Client,
    target: Target,
    headers: dict[str, str],
    body: bytes,
    *,
    timeout: float = 15.0,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Attempt:
    """POST `body` with `headers` to `target.ip`, as if to `target.url`.

    `timeout` applies to each phase (connect, write, each read); 15 s is the low end of
    what Standard Webhooks recommends ("Request timeouts": 15 to 30 s). `clock` is only
    read to turn a Retry-After date into seconds when the response carries no Date.
    """
    request = _request(client, target, headers, body, timeout)
    started = time.perf_counter()
    try:
        # Standard Webhooks, "Delivery success and failure": a 3xx is a failure, not a
        # hop to follow; following it would also skip the SSRF check for the new URL
        # (OWASP SSRF Prevention Cheat Sheet: disable redirects in the web client).
        response = client.send(request, stream=True, follow_redirects=False)
    except httpx.TimeoutException:
        return _no_response(f"timed out after {timeout:g}s", started)
    except httpx.TransportError as exc:
        return _no_response(_describe(exc), started)
    try:
        start_of_body, read_error = _read_start(response, timeout)
    finally:
        response.close()
    return _answered(response, start_of_body, read_error, started, clock)


def _request(
    client: httpx.Client, target: Target, headers: dict[str, str], body: bytes, timeout: float
) -> httpx.Request:
    original = httpx.URL(target.url)
    # Put the checked IP in the URL itself, so httpx has no name to resolve and a DNS
    # answer that changed since the check (rebinding) cannot move the request.
    pinned = original.copy_with(host=target.ip, port=target.port)
    # Without this extension TLS would check the certificate against the IP; with it,
    # the handshake sends and verifies the real host name (httpx docs, "Request
    # Extensions: sni_hostname"; encode/httpcore#691).
    extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
    all_headers = httpx.Headers(headers)
    managed = {
        "Content-Type": "application/json",
        "User-Agent": _USER_AGENT,
        # We read at most 1 KiB raw; an uncompressed answer keeps it readable.
        "Accept-Encoding": "identity",
        # The pool keys connections by scheme, IP and port, not by host name: a kept-alive
        # TLS connection verified for one host could carry the next request for another
        # host on the same IP. One connection per attempt closes that gap.
        "Connection": "close",
        "Host": original.netloc.decode("ascii"),
    }
    for name, value in managed.items():
        all_headers[name] = value  # replaces a caller's header of any letter case
    return client.build_request(
        "POST",
        pinned,
        content=body,
        headers=all_headers,
        timeout=httpx.Timeout(timeout),
        extensions=extensions,
    )


def _read_start(response: httpx.Response, timeout: float) -> tuple[bytes, str | None]:
    """The first RESPONSE_BODY_LIMIT bytes, and what cut the reading short, if anything.

    Only the start is read: a receiver answering with gigabytes costs us one KiB.
    """
    if response.is_stream_consumed:  # an in-memory transport (MockTransport) read it all
        return response.content[:RESPONSE_BODY_LIMIT], None
    collected = bytearray()
    error = None
    try:
        for chunk in response.iter_raw():
            collected += chunk
            if len(collected) >= RESPONSE_BODY_LIMIT:
                break
    except httpx.TimeoutException:
        error = f"timed out after {timeout:g}s reading the response"
    except httpx.TransportError as exc:
        error = _describe(exc)
    return bytes(collected[:RESPONSE_BODY_LIMIT]), error


def _answered(
    response: httpx.Response,
    start_of_body: bytes,
    error: str | None,
    started: float,
    clock: Callable[[], datetime],
) -> Attempt:
    status = response.status_code
    if 300 <= status <= 399 and error is None:
        location = response.headers.get("location", "")[:200]
        error = f"redirect ({status}) to {location!r} not followed; update the URL instead"
    return Attempt(
        status=status,
        ok=200 <= status <= 299,
        latency_ms=_elapsed_ms(started),
        response_body=start_of_body.decode("utf-8", errors="replace"),
        error=error,
        retry_after_seconds=_retry_after(response, clock),
        # Standard Webhooks: 410 Gone means the receiver wants no more webhooks.
        gone=status == 410,
    )


def _no_response(error: str, started: float) -> Attempt:
    return Attempt(
        status=None,
        ok=False,
        latency_ms=_elapsed_ms(started),
        response_body="",
        error=error,
        retry_after_seconds=None,
        gone=False,
    )


def _retry_after(response: httpx.Response, clock: Callable[[], datetime]) -> int | None:
    """Retry-After as seconds: delta-seconds or an HTTP-date (RFC 9110 §10.2.3)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    if _DELTA_SECONDS.fullmatch(value):
        return int(value)
    when = _http_date(value)
    if when is None:
        return None
    # Measure against the server's own Date header when it sent one (RFC 9110 §6.6.1),
    # so a skew between its clock and ours does not shorten or stretch the wait. Two
    # Date headers are ambiguous; then our clock decides.
    dates = response.headers.get_list("date")
    reference = (_http_date(dates[0]) if len(dates) == 1 else None) or clock()
    return max(0, ceil((when - reference).total_seconds()))


def _http_date(value: str) -> datetime | None:
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # HTTP-dates are always GMT (RFC 9110 §5.6.7); "-0000" parses as naive.
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _describe(exc: httpx.TransportError) -> str:
    """A short, subscriber-readable reason; never the request headers."""
    cause = _root_cause(exc)
    if isinstance(cause, ConnectionRefusedError):
        return "connection refused"
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {cause.verify_message}"
    if isinstance(cause, ssl.SSLError):
        return f"TLS handshake failed: {cause.reason or cause}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"protocol error: {exc}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect: {cause}"
    return f"connection error: {cause}"


def _root_cause(exc: BaseException) -> BaseException:
    # httpx wraps httpcore's error, which wraps the OSError that says what happened.
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            return exc
        exc = inner
    return exc


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
