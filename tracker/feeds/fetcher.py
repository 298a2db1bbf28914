"""Fetching one feed body: a conditional GET over HTTP(S), or a read from disk.

It owns the polite and defensive parts of polling, so adapters only ever see bytes:
- conditional requests (RFC 9110 §13.1): the validators of the last good fetch go out as
  If-None-Match / If-Modified-Since, and a 304 comes back without a body;
- a size limit, checked against Content-Length first and then counted while streaming
  (a server may lie about, or omit, the length);
- the server's hints for the scheduler: Retry-After (RFC 9110 §10.2.3, both forms) and
  Cache-Control max-age (RFC 9111 §5.2.2.1);
- 410 Gone (RFC 9110 §15.5.11) as a result, not an error: the feed is to be disabled;
- every other failure as one `FetchError` whose message is fit for `last_error`.

Timeouts are the client's (`make_client`). Feed URLs come from the operator's registry
and are trusted, so loopback and private hosts are allowed (DESIGN.md §6).
"""

from __future__ import annotations

import email.utils
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit
from urllib.request import url2pathname

import httpx

from tracker.domain.errors import TrackerError

__all__ = [
    "MAX_REDIRECTS",
    "USER_AGENT",
    "FetchError",
    "FetchResult",
    "fetch",
    "make_client",
    "parse_max_age",
    "parse_retry_after",
]

USER_AGENT: Final = "Tracker/0.1 (+https://github.com/tracker)"
MAX_REDIRECTS: Final = 5
_ACCEPT: Final = "application/json, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
_DIGITS = re.compile(r"[0-9]+")


class FetchError(TrackerError):
    """A fetch that produced no usable body: network, timeout, HTTP 4xx/5xx, size, file.

    `status` is the HTTP status when there was one; `retry_after_seconds` is the
    server's Retry-After (sent with 429 and 503), for the backoff to honour.
    """

    def __init__(
        self, message: str, *, status: int | None = None, retry_after_seconds: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class FetchResult:
    """One answer: a body (200), no body and unchanged (304), or gone for good (410).

    `etag` and `last_modified` are the validators to send next time; on a 304 they fall
    back to the ones that were sent, so the caller can always store them as they are.
    """

    status: int
    body: bytes | None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after_seconds: int | None = None
    max_age_seconds: int | None = None
    gone: bool = False

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def make_client(timeout: float = 10.0) -> httpx.Client:
    """The HTTP client for feeds: bounded connect/read timeouts, at most 5 redirects.

    Redirects are followed because feeds move (http → https, renamed repositories on
    GitHub); a chain longer than a handful is a loop or a trap.
    """
    return httpx.Client(
        timeout=httpx.Timeout(timeout, connect=timeout, read=timeout),
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        headers={"User-Agent": USER_AGENT, "Accept": _ACCEPT},
    )


def fetch(
    client: httpx.Client,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    max_bytes: int,
    force_full: bool = False,
) -> FetchResult:
    """Fetch `url` (http(s)://, file: or a plain path), at most `max_bytes` of body.

    `force_full` drops the validators, for the periodic unconditional fetch
    (`schedule.should_force_full`). A file's validator is an ETag made of its size and
    mtime; `last_modified` is not used for files.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):
        headers = {} if force_full else _conditional_headers(etag, last_modified)
        return _fetch_http(client, url, headers, max_bytes)
    if scheme == "file" or len(scheme) <= 1:  # one letter: a Windows drive, "C:\\..."
        return _fetch_file(_file_path(url), etag=None if force_full else etag, max_bytes=max_bytes)
    raise FetchError(f"unsupported URL scheme {scheme}: expected http(s)://, file: or a path")


def _conditional_headers(etag: str | None, last_modified: str | None) -> dict[str, str]:
    # Both validators go out: a server that ignores ETags may still honour dates, and
    # one that has both evaluates If-None-Match first (RFC 9110 §13.2.2).
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    return headers


def _fetch_http(
    client: httpx.Client, url: str, headers: dict[str, str], max_bytes: int
) -> FetchResult:
    try:
        with client.stream("GET", url, headers=headers) as response:
            return _read_response(response, headers, max_bytes)
    except httpx.TimeoutException as exc:
        raise FetchError(f"timed out after {_timeout_of(client, exc)}") from None
    except httpx.TooManyRedirects:
        raise FetchError(f"too many redirects (more than {client.max_redirects})") from None
    except httpx.ConnectError as exc:
        raise FetchError(f"connection failed: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise FetchError(f"network error: {str(exc) or type(exc).__name__}") from None


def _timeout_of(client: httpx.Client, exc: httpx.TimeoutException) -> str:
    """`10s`, `0.5s`: the limit that ran out, as the client was configured."""
    limits = client.timeout
    seconds = {
        httpx.ConnectTimeout: limits.connect,
        httpx.ReadTimeout: limits.read,
        httpx.WriteTimeout: limits.write,
        httpx.PoolTimeout: limits.pool,
    }.get(type(exc))
    return f"{seconds:g}s" if seconds is not None else "the client's timeout"


def _read_response(response: httpx.Response, sent: dict[str, str], max_bytes: int) -> FetchResult:
    status = response.status_code
    headers = response.headers
    retry_after = parse_retry_after(headers.get("Retry-After"))
    if status == 304:
        return FetchResult(
            status=304,
            body=None,
            content_type=headers.get("Content-Type"),
            etag=headers.get("ETag") or sent.get("If-None-Match"),
            last_modified=headers.get("Last-Modified") or sent.get("If-Modified-Since"),
            retry_after_seconds=retry_after,
            max_age_seconds=parse_max_age(headers.get("Cache-Control")),
        )
    if status == 410:
        return FetchResult(status=410, body=None, gone=True)
    if not 200 <= status < 300:
        # The error body is not read: it is of no use and may be large.
        message = f"HTTP {status} {_reason(status, response.reason_phrase)}".rstrip()
        raise FetchError(message, status=status, retry_after_seconds=retry_after)
    return FetchResult(
        status=status,
        body=_read_limited(response, max_bytes),
        content_type=headers.get("Content-Type"),
        etag=headers.get("ETag"),
        last_modified=headers.get("Last-Modified"),
        retry_after_seconds=retry_after,
        max_age_seconds=parse_max_age(headers.get("Cache-Control")),
    )


def _reason(status: int, sent: str) -> str:
    """The standard reason phrase (RFC 9110 §15), so messages read the same whatever the
    server sent: phrases are optional, free text, and absent in HTTP/2."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return sent


def _read_limited(response: httpx.Response, max_bytes: int) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and _DIGITS.fullmatch(declared) and int(declared) > max_bytes:
        raise FetchError(f"body larger than {max_bytes} bytes")
    # Counted after decoding: a small gzip body that inflates past the limit is refused
    # too. iter_bytes yields as data arrives, so the download stops at the limit.
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"body larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return Path(url)
    if parts.netloc not in ("", "localhost"):
        raise FetchError(f"file URL on another host {parts.netloc}: only local files can be read")
    return Path(url2pathname(parts.path))


def _fetch_file(path: Path, *, etag: str | None, max_bytes: int) -> FetchResult:
    """A local feed file, with a validator made of its size and mtime, so an unchanged
    bundled file answers "not modified" like an HTTP feed and is not parsed again."""
    try:
        stat = path.stat()
        if not path.is_file():
            raise FetchError(f"not a file: {path}")
        if stat.st_size > max_bytes:
            raise FetchError(f"body larger than {max_bytes} bytes")
        validator = f'W/"{stat.st_size:x}-{stat.st_mtime_ns:x}"'
        if etag == validator:
            return FetchResult(status=304, body=None, etag=validator)
        with path.open("rb") as feed_file:
            body = feed_file.read(max_bytes + 1)  # the file may have grown since stat()
    except FileNotFoundError:
        raise FetchError(f"file not found: {path}") from None
    except OSError as exc:
        raise FetchError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(body) > max_bytes:
        raise FetchError(f"body larger than {max_bytes} bytes")
    return FetchResult(status=200, body=body, etag=validator)


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> int | None:
    """Seconds to wait, from `Retry-After: 120` or `Retry-After: <HTTP-date>`.

    RFC 9110 §10.2.3: delta-seconds or an HTTP-date (§5.6.7, always GMT). A date in the
    past means 0; text of neither form is ignored (None).
    """
    if value is None:
        return None
    text = value.strip()
    if _DIGITS.fullmatch(text):
        return int(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    elapsed = (when - (now or datetime.now(UTC))).total_seconds()
    return max(0, math.ceil(elapsed))


def parse_max_age(cache_control: str | None) -> int | None:
    """The `max-age` directive of Cache-Control, in seconds (RFC 9111 §5.2.2.1).

    We are a private cache, so `s-maxage` does not apply to us. A quoted value is
    accepted, as RFC 9111 §5.2 asks of recipients.
    """
    if not cache_control:
        return None
    for directive in cache_control.split(","):
        name, _, value = directive.partition("=")
        if name.strip().lower() == "max-age":
            seconds = value.strip().strip('"')
            return int(seconds) if _DIGITS.fullmatch(seconds) else None
    return None
