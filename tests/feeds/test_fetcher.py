"""The fetcher against a real HTTP server on 127.0.0.1, and against files on disk."""

from __future__ import annotations

import gzip
import socket
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from tracker.domain.errors import FeedFormatError
from tracker.feeds.adapters import ADAPTERS
from tracker.feeds.fetcher import (
    USER_AGENT,
    FetchError,
    fetch,
    make_client,
    parse_max_age,
    parse_retry_after,
)

FEED = b'{"tracker_feed": 1, "events": []}'
LIMIT = 1_000


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with make_client(timeout=5.0) as feed_client:
        yield feed_client


def test_a_fresh_fetch_returns_the_body_and_the_validators(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(
        FEED,
        content_type="application/json",
        headers={
            "ETag": '"v1"',
            "Last-Modified": "Wed, 21 Oct 2025 07:28:00 GMT",
            "Cache-Control": "public, max-age=3600",
        },
    )

    result = fetch(
        client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
    )

    assert result.status == 200
    assert result.body == FEED
    assert result.content_type == "application/json"
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2025 07:28:00 GMT"
    assert result.max_age_seconds == 3600
    assert not result.gone and not result.not_modified


def test_a_conditional_get_sends_the_validators_and_a_304_has_no_body(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data("", status=304)

    result = fetch(
        client,
        httpserver.url_for("/feed.json"),
        etag='"v1"',
        last_modified="Wed, 21 Oct 2025 07:28:00 GMT",
        max_bytes=LIMIT,
    )

    request = httpserver.log[0][0]
    assert request.headers["If-None-Match"] == '"v1"'
    assert request.headers["If-Modified-Since"] == "Wed, 21 Oct 2025 07:28:00 GMT"
    assert result.status == 304 and result.not_modified
    assert result.body is None
    # The 304 named no validators, so the ones sent stay valid.
    assert result.etag == '"v1"'
    assert result.last_modified == "Wed, 21 Oct 2025 07:28:00 GMT"


def test_a_forced_full_fetch_sends_no_validators(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(FEED, content_type="application/json")

    result = fetch(
        client,
        httpserver.url_for("/feed.json"),
        etag='"v1"',
        last_modified="Wed, 21 Oct 2025 07:28:00 GMT",
        max_bytes=LIMIT,
        force_full=True,
    )

    request = httpserver.log[0][0]
    assert "If-None-Match" not in request.headers
    assert "If-Modified-Since" not in request.headers
    assert result.body == FEED


def test_requests_name_tracker_in_the_user_agent(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(FEED)

    fetch(client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT)

    assert httpserver.log[0][0].headers["User-Agent"] == USER_AGENT


def test_a_body_declared_larger_than_the_limit_is_refused(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/big").respond_with_data(b"x" * (LIMIT + 1))

    with pytest.raises(FetchError) as caught:
        fetch(client, httpserver.url_for("/big"), etag=None, last_modified=None, max_bytes=LIMIT)

    assert str(caught.value) == f"body larger than {LIMIT} bytes"


def test_a_body_without_a_length_is_cut_off_at_the_limit(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    def endless(request: Request) -> Response:
        chunks = (b"x" * 100 for _ in range(1_000))
        return Response(chunks, content_type="application/json")  # streamed: no Content-Length

    httpserver.expect_request("/stream").respond_with_handler(endless)

    with pytest.raises(FetchError, match=f"^body larger than {LIMIT} bytes$"):
        fetch(client, httpserver.url_for("/stream"), etag=None, last_modified=None, max_bytes=LIMIT)

    assert "Content-Length" not in httpserver.log[0][1].headers


def test_a_small_gzip_body_that_inflates_past_the_limit_is_refused(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    bomb = gzip.compress(b"0" * 100 * LIMIT)
    assert len(bomb) < LIMIT
    httpserver.expect_request("/bomb").respond_with_data(
        bomb, content_type="application/json", headers={"Content-Encoding": "gzip"}
    )

    with pytest.raises(FetchError, match=r"^body larger than"):
        fetch(client, httpserver.url_for("/bomb"), etag=None, last_modified=None, max_bytes=LIMIT)


def test_a_server_that_hangs_times_out_with_the_clients_limit(httpserver: HTTPServer) -> None:
    def hang(request: Request) -> Response:
        time.sleep(1.0)
        return Response(FEED)

    httpserver.expect_request("/slow").respond_with_handler(hang)

    with make_client(timeout=0.3) as impatient, pytest.raises(FetchError) as caught:
        fetch(
            impatient, httpserver.url_for("/slow"), etag=None, last_modified=None, max_bytes=LIMIT
        )

    assert str(caught.value) == "timed out after 0.3s"


def test_a_server_error_is_reported_with_its_status(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data("boom", status=500)

    with pytest.raises(FetchError) as caught:
        fetch(
            client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
        )

    assert str(caught.value) == "HTTP 500 Internal Server Error"
    assert caught.value.status == 500
    assert caught.value.retry_after_seconds is None


def test_too_many_requests_carries_the_retry_after_seconds(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )

    with pytest.raises(FetchError) as caught:
        fetch(
            client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
        )

    assert str(caught.value) == "HTTP 429 Too Many Requests"
    assert caught.value.status == 429
    assert caught.value.retry_after_seconds == 120


def test_unavailable_with_an_http_date_carries_the_seconds_until_then(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    later = datetime.now(UTC) + timedelta(seconds=90)
    httpserver.expect_request("/feed.json").respond_with_data(
        "maintenance", status=503, headers={"Retry-After": format_datetime(later, usegmt=True)}
    )

    with pytest.raises(FetchError) as caught:
        fetch(
            client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
        )

    assert str(caught.value) == "HTTP 503 Service Unavailable"
    assert caught.value.retry_after_seconds is not None
    assert 80 <= caught.value.retry_after_seconds <= 91


def test_a_gone_feed_is_a_result_not_an_error(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/feed.json").respond_with_data("gone", status=410)

    result = fetch(
        client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
    )

    assert result.status == 410
    assert result.gone
    assert result.body is None


def test_an_html_page_served_for_a_tracker_feed_is_refused_by_the_adapter(
    httpserver: HTTPServer, client: httpx.Client
) -> None:
    httpserver.expect_request("/feed.json").respond_with_data(
        "<html><body>Please sign in</body></html>", content_type="text/html; charset=utf-8"
    )
    result = fetch(
        client, httpserver.url_for("/feed.json"), etag=None, last_modified=None, max_bytes=LIMIT
    )
    assert result.body is not None

    with pytest.raises(FeedFormatError) as caught:
        ADAPTERS["tracker"](result.body, result.content_type, {})

    assert str(caught.value) == "unexpected content type text/html: expected application/json"


def test_redirects_are_followed_to_the_feed(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/old").respond_with_data(
        "", status=301, headers={"Location": httpserver.url_for("/new")}
    )
    httpserver.expect_request("/new").respond_with_data(FEED, content_type="application/json")

    result = fetch(
        client, httpserver.url_for("/old"), etag=None, last_modified=None, max_bytes=LIMIT
    )

    assert result.body == FEED


def test_a_redirect_loop_ends_after_five_hops(httpserver: HTTPServer, client: httpx.Client) -> None:
    httpserver.expect_request("/loop").respond_with_data(
        "", status=302, headers={"Location": httpserver.url_for("/loop")}
    )

    with pytest.raises(FetchError, match=r"^too many redirects \(more than 5\)$"):
        fetch(client, httpserver.url_for("/loop"), etag=None, last_modified=None, max_bytes=LIMIT)

    assert len(httpserver.log) == 6


def test_a_refused_connection_is_a_fetch_error(client: httpx.Client) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(FetchError, match=r"^connection failed: "):
        fetch(
            client,
            f"http://127.0.0.1:{port}/feed.json",
            etag=None,
            last_modified=None,
            max_bytes=LIMIT,
        )


def test_a_feed_file_is_read_by_path_and_by_file_url(tmp_path: Path, client: httpx.Client) -> None:
    feed_file = tmp_path / "feed with space.json"
    feed_file.write_bytes(FEED)

    by_path = fetch(client, str(feed_file), etag=None, last_modified=None, max_bytes=LIMIT)
    by_url = fetch(client, feed_file.as_uri(), etag=None, last_modified=None, max_bytes=LIMIT)

    assert by_path.body == by_url.body == FEED
    assert by_path.status == 200
    assert by_path.content_type is None
    assert by_path.etag is not None


def test_an_unchanged_feed_file_answers_not_modified(tmp_path: Path, client: httpx.Client) -> None:
    feed_file = tmp_path / "feed.json"
    feed_file.write_bytes(FEED)
    first = fetch(client, str(feed_file), etag=None, last_modified=None, max_bytes=LIMIT)

    again = fetch(client, str(feed_file), etag=first.etag, last_modified=None, max_bytes=LIMIT)
    forced = fetch(
        client,
        str(feed_file),
        etag=first.etag,
        last_modified=None,
        max_bytes=LIMIT,
        force_full=True,
    )

    assert again.status == 304 and again.body is None and again.etag == first.etag
    assert forced.status == 200 and forced.body == FEED


def test_a_feed_file_larger_than_the_limit_is_refused(tmp_path: Path, client: httpx.Client) -> None:
    feed_file = tmp_path / "big.json"
    feed_file.write_bytes(b"x" * (LIMIT + 1))

    with pytest.raises(FetchError, match=f"^body larger than {LIMIT} bytes$"):
        fetch(client, str(feed_file), etag=None, last_modified=None, max_bytes=LIMIT)


def test_a_missing_feed_file_is_a_fetch_error(tmp_path: Path, client: httpx.Client) -> None:
    missing = tmp_path / "nope.json"

    with pytest.raises(FetchError) as caught:
        fetch(client, str(missing), etag=None, last_modified=None, max_bytes=LIMIT)

    assert str(caught.value) == f"file not found: {missing}"


def test_a_folder_is_not_a_feed_file(tmp_path: Path, client: httpx.Client) -> None:
    with pytest.raises(FetchError, match=r"^not a file: "):
        fetch(client, str(tmp_path), etag=None, last_modified=None, max_bytes=LIMIT)


def test_an_unsupported_scheme_is_refused_without_a_request(client: httpx.Client) -> None:
    with pytest.raises(FetchError, match=r"^unsupported URL scheme ftp"):
        fetch(client, "ftp://127.0.0.1/feed.json", etag=None, last_modified=None, max_bytes=LIMIT)


NOW = datetime(2026, 1, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120),
        (" 0 ", 0),
        ("Mon, 26 Jan 2026 12:01:30 GMT", 90),
        ("Mon, 26 Jan 2026 11:00:00 GMT", 0),  # already past: retry now
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        (None, None),
    ],
)
def test_retry_after_is_read_in_both_of_its_forms(header: str | None, seconds: int | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=600", 600),
        ("public, max-age=600, must-revalidate", 600),
        ('MAX-AGE="60"', 60),
        ("s-maxage=600", None),
        ("no-store", None),
        ("max-age=soon", None),
        (None, None),
    ],
)
def test_cache_control_max_age_is_read_for_the_scheduler(
    header: str | None, seconds: int | None
) -> None:
    assert parse_max_age(header) == seconds
