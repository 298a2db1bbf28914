"""The sender against a real HTTP server on 127.0.0.1, reached through the SSRF guard.

"hooks.example.test" cannot resolve (RFC 2606 reserves .test), so every request that
arrives proves the sender connected to the IP the guard checked, not to a name.
The server is pytest-httpserver's, bound to 127.0.0.1 explicitly: its `httpserver`
fixture listens on "localhost", which may be ::1 or depend on /etc/hosts.
"""

from __future__ import annotations

import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from standardwebhooks import Webhook
from werkzeug import Request, Response

from tracker.webhooks.address_guard import Target, check_target
from tracker.webhooks.sender import RESPONSE_BODY_LIMIT, Attempt, delivery_client, send
from tracker.webhooks.signing import delivery_body, new_secret, sign_headers

HOST = "hooks.example.test"


def loopback_resolver(host: str, port: int) -> list[str]:
    assert host == HOST, f"unexpected lookup of {host}"
    return ["127.0.0.1"]


@pytest.fixture
def server(httpserver: HTTPServer) -> HTTPServer:
    return httpserver


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with delivery_client() as client:
        yield client


def target_for(server: HTTPServer, path: str = "/hook") -> Target:
    url = f"http://{HOST}:{server.port}{path}"
    return check_target(url, allow_private=True, resolve=loopback_resolver)


def deliver(client: httpx.Client, target: Target, timeout: float = 15.0) -> Attempt:
    now = datetime.now(UTC)
    body = delivery_body("company.renamed", now, {"company": "stepfun", "name": "StepFun"})
    headers = sign_headers("msg_1", now, body, [new_secret()])
    return send(client, target, headers, body, timeout=timeout)


def test_a_2xx_answer_is_a_success_whose_signature_the_receiver_verifies(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook", method="POST").respond_with_data("thanks", status=202)
    secret, now = new_secret(), datetime.now(UTC)
    body = delivery_body("company.renamed", now, {"company": "stepfun", "name": "阶跃星辰"})
    headers = sign_headers("msg_1", now, body, [secret])

    attempt = send(client, target_for(server), headers, body)

    assert (attempt.status, attempt.ok, attempt.error, attempt.gone) == (202, True, None, False)
    assert attempt.response_body == "thanks"
    assert attempt.latency_ms >= 0
    ((request, _),) = server.log
    received = request.get_data()
    assert received == body
    assert Webhook(secret).verify(received, dict(request.headers))["data"]["name"] == "阶跃星辰"


def test_the_request_names_the_original_host_and_says_it_is_json(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data("")

    deliver(client, target_for(server))

    ((request, _),) = server.log
    assert request.headers["Host"] == f"{HOST}:{server.port}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Connection"] == "close"


def test_a_500_answer_is_a_failure_that_keeps_the_status_and_body(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data("database down", status=500)

    attempt = deliver(client, target_for(server))

    assert (attempt.status, attempt.ok, attempt.gone) == (500, False, False)
    assert attempt.response_body == "database down"
    assert attempt.retry_after_seconds is None


def test_a_410_answer_marks_the_endpoint_as_gone(server: HTTPServer, client: httpx.Client) -> None:
    server.expect_request("/hook").respond_with_data("unsubscribe me", status=410)

    attempt = deliver(client, target_for(server))

    assert (attempt.status, attempt.ok, attempt.gone) == (410, False, True)


def test_a_429_with_retry_after_in_seconds_says_how_long_to_wait(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "120"}
    )

    attempt = deliver(client, target_for(server))

    assert (attempt.status, attempt.ok, attempt.retry_after_seconds) == (429, False, 120)


def test_a_retry_after_date_is_turned_into_seconds_from_now(
    server: HTTPServer, client: httpx.Client
) -> None:
    in_five_minutes = format_datetime(datetime.now(UTC) + timedelta(minutes=5), usegmt=True)
    server.expect_request("/hook").respond_with_data(
        "", status=503, headers={"Retry-After": in_five_minutes}
    )

    attempt = deliver(client, target_for(server))

    assert attempt.status == 503
    assert attempt.retry_after_seconds is not None
    assert 298 <= attempt.retry_after_seconds <= 301


def test_a_redirect_is_a_failure_and_is_never_followed(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data(
        "", status=302, headers={"Location": f"http://127.0.0.1:{server.port}/elsewhere"}
    )
    server.expect_request("/elsewhere").respond_with_data("should never be asked")

    attempt = deliver(client, target_for(server))

    assert (attempt.status, attempt.ok) == (302, False)
    assert attempt.error is not None and "not followed" in attempt.error
    assert [request.path for request, _ in server.log] == ["/hook"]


def test_a_receiver_that_hangs_past_the_timeout_gives_a_timed_out_error(
    server: HTTPServer, client: httpx.Client
) -> None:
    release = threading.Event()

    def hang(request: Request) -> Response:
        release.wait(timeout=10)
        return Response("too late")

    server.expect_request("/hook").respond_with_handler(hang)
    try:
        attempt = deliver(client, target_for(server), timeout=0.3)
    finally:
        release.set()

    assert (attempt.status, attempt.ok, attempt.error) == (None, False, "timed out after 0.3s")
    assert attempt.latency_ms >= 300


def test_only_the_first_kibibyte_of_a_large_answer_is_kept(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data("x" * 5_000_000, status=200)

    attempt = deliver(client, target_for(server))

    assert attempt.ok
    assert attempt.response_body == "x" * RESPONSE_BODY_LIMIT == "x" * 1024


def test_an_answer_that_is_not_utf8_is_kept_with_replacement_characters(
    server: HTTPServer, client: httpx.Client
) -> None:
    server.expect_request("/hook").respond_with_data(b"ok \xff\xfe", status=200)

    attempt = deliver(client, target_for(server))

    assert attempt.response_body == "ok \ufffd\ufffd"


def test_a_closed_port_gives_connection_refused(client: httpx.Client) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = check_target(
        f"http://{HOST}:{port}/hook", allow_private=True, resolve=loopback_resolver
    )

    attempt = deliver(client, target, timeout=2)

    assert (attempt.status, attempt.ok, attempt.error) == (None, False, "connection refused")


def test_neither_the_attempt_nor_the_logs_contain_the_secret(
    server: HTTPServer, client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    server.expect_request("/hook").respond_with_data("ok")
    secret, now = new_secret(), datetime.now(UTC)
    body = delivery_body("company.renamed", now, {})
    headers = sign_headers("msg_1", now, body, [secret])

    with caplog.at_level(logging.DEBUG):
        attempt = send(client, target_for(server), headers, body)

    key = secret.removeprefix("whsec_")
    assert key not in repr(attempt)
    assert key not in caplog.text


class Recorder(httpx.MockTransport):
    def __init__(self, response: httpx.Response) -> None:
        self.requests: list[httpx.Request] = []

        def answer(request: httpx.Request) -> httpx.Response:
            self.requests.append(request)
            return response

        super().__init__(answer)


def test_https_goes_to_the_checked_ip_and_checks_tls_against_the_host_name() -> None:
    transport = Recorder(httpx.Response(200))
    target = Target(
        url="https://hooks.example.test/in?x=1",
        host=HOST,
        port=443,
        scheme="https",
        ip="2606:2800:220:1:248:1893:25c8:1946",
    )

    with httpx.Client(transport=transport) as client:
        send(client, target, {"host": "evil.example", "webhook-id": "msg_1"}, b"{}")

    (request,) = transport.requests
    assert str(request.url) == "https://[2606:2800:220:1:248:1893:25c8:1946]/in?x=1"
    assert request.headers.get_list("host") == [HOST]
    assert request.extensions["sni_hostname"] == HOST


def test_plain_http_sends_no_tls_server_name() -> None:
    transport = Recorder(httpx.Response(200))
    target = Target(
        url="http://hooks.example.test:8080/in", host=HOST, port=8080, scheme="http", ip="127.0.0.1"
    )

    with httpx.Client(transport=transport) as client:
        send(client, target, {}, b"{}")

    (request,) = transport.requests
    assert "sni_hostname" not in request.extensions
    assert request.headers["host"] == f"{HOST}:8080"


def test_a_retry_after_date_without_a_server_date_is_measured_from_the_injected_clock() -> None:
    answer = httpx.Response(503, headers={"Retry-After": "Mon, 26 Jan 2026 09:01:30 GMT"})
    target = Target(
        url="https://hooks.example.test/in", host=HOST, port=443, scheme="https", ip="93.184.216.34"
    )

    with httpx.Client(transport=Recorder(answer)) as client:
        attempt = send(
            client, target, {}, b"{}", clock=lambda: datetime(2026, 1, 26, 9, 0, tzinfo=UTC)
        )

    assert attempt.retry_after_seconds == 90


def test_a_retry_after_date_is_measured_from_the_servers_date_not_our_clock() -> None:
    answer = httpx.Response(
        503,
        headers={
            "Date": "Mon, 26 Jan 2026 09:00:00 GMT",
            "Retry-After": "Mon, 26 Jan 2026 09:05:00 GMT",
        },
    )
    target = Target(
        url="https://hooks.example.test/in",
        host=HOST,
        port=443,
        scheme="https",
        ip="93.184.216.34",
    )

    with httpx.Client(transport=Recorder(answer)) as client:
        attempt = send(
            client, target, {}, b"{}", clock=lambda: datetime(2026, 1, 26, 9, 4, tzinfo=UTC)
        )

    assert attempt.retry_after_seconds == 300


@pytest.mark.parametrize("value", ["soon", "-5", "1.5", ""])
def test_a_retry_after_that_is_neither_seconds_nor_a_date_is_ignored(value: str) -> None:
    answer = httpx.Response(429, headers={"Retry-After": value})
    target = Target(
        url="https://hooks.example.test/in", host=HOST, port=443, scheme="https", ip="93.184.216.34"
    )

    with httpx.Client(transport=Recorder(answer)) as client:
        attempt = send(client, target, {}, b"{}")

    assert attempt.retry_after_seconds is None


def _self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            f"/CN={name}",
            "-addext",
            f"subjectAltName=DNS:{name}",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[HTTPServer, Path]]:
    """An https receiver on 127.0.0.1 whose certificate names hooks.example.test only."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a test certificate")
    cert, key = _self_signed(tmp_path_factory.mktemp("tls"), HOST)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=context)
    server.start()
    yield server, cert
    server.clear()
    server.stop()


def test_https_verifies_the_certificate_against_the_host_name_not_the_ip(
    tls_server: tuple[HTTPServer, Path],
) -> None:
    server, cert = tls_server
    server.clear()
    server.expect_request("/hook").respond_with_data("ok")
    target = check_target(
        f"https://{HOST}:{server.port}/hook", allow_private=True, resolve=loopback_resolver
    )

    with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client:
        attempt = deliver(client, target)

    assert (attempt.status, attempt.ok) == (200, True)


def test_https_refuses_a_certificate_made_out_to_another_name(
    tls_server: tuple[HTTPServer, Path],
) -> None:
    server, cert = tls_server
    server.clear()
    target = check_target(
        f"https://other.example.test:{server.port}/hook",
        allow_private=True,
        resolve=lambda host, port: ["127.0.0.1"],
    )

    with httpx.Client(verify=ssl.create_default_context(cafile=cert)) as client:
        attempt = deliver(client, target)

    assert (attempt.status, attempt.ok) == (None, False)
    assert attempt.error is not None
    assert attempt.error.startswith("TLS certificate rejected: Hostname mismatch")
