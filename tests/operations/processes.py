"""Running Tracker as the containers do: `tracker ...` commands as real processes.

Shared by tests/operations and tests/reliability (which import it as
`operations.processes`: tests/ is on sys.path through its conftest.py). Everything here
talks to 127.0.0.1 only; every process started through `Processes` is killed when the
block ends, and every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
from sqlalchemy import or_, select, update

from tracker.commands.feeds import feeds
from tracker.commands.webhook_tables import deliveries
from tracker.db import make_engine, write_transaction
from tracker.store.heartbeats import worker_heartbeats

__all__ = [
    "LOOPBACK",
    "FeedServer",
    "Processes",
    "Receiver",
    "TrackerProcess",
    "api_client",
    "create_key",
    "database_name",
    "expire_claims_of",
    "free_port",
    "new_key",
    "pg_connect",
    "processes",
    "run_tracker",
    "terminate_connections",
    "tracker_env",
    "tracker_feed",
    "wait_healthy",
    "wait_until",
    "worker_id_of",
    "write_registry",
]

LOOPBACK = "127.0.0.1"
KEY_PATTERN = re.compile(r"trk_[A-Za-z0-9_-]{32}")
T = TypeVar("T")


def tracker_command() -> list[str]:
    """The `tracker` script of this virtualenv, as the Dockerfile installs it."""
    beside = Path(sys.executable).with_name("tracker")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("tracker")
    return [found] if found else [sys.executable, "-m", "tracker.cli"]


def free_port() -> int:
    """A port nobody listens on now (bind port 0 and let the kernel choose)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def tracker_env(database_url: str, **settings: str | float | Path) -> dict[str, str]:
    """The environment of a tracker process: ours without any TRACKER_ variable, then
    the database and `settings` (`feeds="..."` becomes TRACKER_FEEDS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["TRACKER_DATABASE_URL"] = database_url
    env["TRACKER_FEEDS"] = os.devnull  # an empty registry: no feeds unless a test names one
    for name, value in settings.items():
        env[f"TRACKER_{name.upper()}"] = str(value)
    return env


def run_tracker(
    args: Sequence[str], env: Mapping[str, str], *, timeout: float = 120.0, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run one `tracker` command to its end; fail with its output if it fails."""
    done = subprocess.run(
        [*tracker_command(), *args],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(
            f"tracker {' '.join(args)} exited {done.returncode}\n"
            f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
        )
    return done


def create_key(env: Mapping[str, str], scope: str = "admin") -> str:
    """`tracker keys create --scope SCOPE`: the key is alone on the last stdout line."""
    out = run_tracker(["keys", "create", "--scope", scope], env).stdout
    key = out.strip().splitlines()[-1]
    assert KEY_PATTERN.fullmatch(key), f"not a key: {key!r}"
    return key


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    message: str | Callable[[], str],
    every: float = 0.1,
) -> T:
    """Call `probe` until it returns something truthy (returned), or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            text = message() if callable(message) else message
            raise AssertionError(f"gave up after {timeout:.0f}s: {text}")
        time.sleep(every)


@dataclass
class TrackerProcess:
    """One long-running `tracker` process; stdout and stderr go to files beside the test."""

    name: str
    args: list[str]
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def url(self) -> str:
        assert self.port is not None, f"{self.name} serves no HTTP"
        return f"http://{LOOPBACK}:{self.port}"

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed or released (a crash)."""
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
        self.popen.wait(timeout=30)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (the graceful stop), SIGKILL if that takes too long."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return int(self.popen.returncode)

    def rss_kib(self) -> int:
        """Resident memory (VmRSS) of the process, in KiB."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        assert match, f"no VmRSS for {self.name}"
        return int(match.group(1))

    def describe(self) -> str:
        state = "running" if self.alive() else f"exited {self.popen.returncode}"
        tail = "\n".join(self.stderr().splitlines()[-40:])
        return f"{self.name} (pid {self.pid}, {state}); stderr tail:\n{tail}"


class Processes:
    """Starts tracker processes and guarantees each is killed when the block ends."""

    def __init__(self, directory: Path, env: Mapping[str, str]) -> None:
        self.directory, self.env = directory, dict(env)
        self.started: list[TrackerProcess] = []

    def start(
        self,
        name: str,
        args: Sequence[str],
        *,
        port: int | None = None,
        env: Mapping[str, str] | None = None,
    ) -> TrackerProcess:
        stdout_path = self.directory / f"{name}.stdout"
        stderr_path = self.directory / f"{name}.stderr"
        with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
            popen = subprocess.Popen(
                [*tracker_command(), *args],
                env=dict(env if env is not None else self.env),
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
            )
        process = TrackerProcess(name, list(args), popen, stdout_path, stderr_path, port)
        self.started.append(process)
        return process

    def serve(self, name: str, *extra: str, env: Mapping[str, str] | None = None) -> TrackerProcess:
        """`tracker serve --port P ...` on a free port of 127.0.0.1."""
        port = free_port()
        args = ["serve", "--host", LOOPBACK, "--port", str(port), *extra]
        return self.start(name, args, port=port, env=env)

    def worker(self, name: str, env: Mapping[str, str] | None = None) -> TrackerProcess:
        return self.start(name, ["worker"], env=env)

    def kill_all(self) -> None:
        for process in self.started:
            with suppress(ProcessLookupError, subprocess.TimeoutExpired):
                process.kill()

    def describe(self) -> str:
        return "\n\n".join(process.describe() for process in self.started)


@contextmanager
def processes(directory: Path, env: Mapping[str, str]) -> Iterator[Processes]:
    group = Processes(directory, env)
    try:
        yield group
    finally:
        group.kill_all()


def wait_healthy(process: TrackerProcess, *, timeout: float = 60.0) -> dict[str, Any]:
    """Wait until `GET /health` answers 200; fail early if the process died."""

    def probe() -> dict[str, Any] | None:
        if not process.alive():
            raise AssertionError(f"{process.name} died while starting:\n{process.describe()}")
        try:
            response = httpx.get(f"{process.url}/health", timeout=2.0)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    return wait_until(probe, timeout=timeout, message=process.describe)


def api_client(process: TrackerProcess, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=process.url, headers=headers, timeout=30.0)


# --- PostgreSQL ------------------------------------------------------------------------


def database_name(url: str) -> str:
    return url.rsplit("/", 1)[1].split("?", 1)[0]


def pg_connect(url: str) -> psycopg.Connection[tuple[Any, ...]]:
    return psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)


def terminate_connections(url: str) -> int:
    """Terminate every connection to this test's own database except the one asking.

    Only the database named in `url` (each test has its own): never the server, never
    another database."""
    name = database_name(url)
    assert name.startswith("tracker_test_"), f"refusing to touch {name}"
    with pg_connect(url) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def worker_id_of(url: str, pid: int) -> str | None:
    """The worker id a `tracker worker` (or `serve`) process beats under, by its pid."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(worker_heartbeats.c.worker_id)
                .where(worker_heartbeats.c.pid == pid)
                .order_by(worker_heartbeats.c.started_at.desc())
            ).first()
    finally:
        engine.dispose()
    return str(row.worker_id) if row else None


def expire_claims_of(url: str, worker_id: str) -> tuple[int, int]:
    """Let the leases of a dead worker run out now, instead of after their length
    (deliveries: 4 x webhook timeout + 30 s; feeds: 10 min): the stand-in for a clock.

    Returns how many (deliveries, feeds) claims were expired."""
    past = datetime.now(UTC) - timedelta(seconds=1)
    engine = make_engine(url)
    try:
        with write_transaction(engine) as conn:
            sent = conn.execute(
                update(deliveries)
                .where(
                    deliveries.c.status == "sending",
                    or_(
                        deliveries.c.claimed_by == worker_id,
                        deliveries.c.claimed_by.like(worker_id + "/%"),
                    ),
                )
                .values(claimed_until=past)
            ).rowcount
            polled = conn.execute(
                update(feeds).where(feeds.c.claimed_by == worker_id).values(claimed_until=past)
            ).rowcount
    finally:
        engine.dispose()
    return sent, polled


# --- feeds and webhook receivers on 127.0.0.1 -------------------------------------------


def tracker_feed(items: Sequence[dict[str, Any]]) -> bytes:
    source = {"publisher": "Loopback desk", "url": "https://example.org/loopback"}
    return json.dumps({"tracker_feed": 1, "source": source, "events": list(items)}).encode()


def write_registry(path: Path, feeds: Sequence[tuple[str, str, str]]) -> Path:
    """A feed registry of (name, url, interval) tracker feeds."""
    lines = []
    for name, url, interval in feeds:
        lines += [
            "[[feeds]]",
            f'name = "{name}"',
            'adapter = "tracker"',
            f'url = "{url}"',
            f'interval = "{interval}"',
            "",
        ]
    path.write_text("\n".join(lines))
    return path


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up (a killed worker) is expected here; print nothing."""


class _Server:
    """A threaded HTTP server on 127.0.0.1 with a port of its own."""

    def __init__(self, handle: Callable[[BaseHTTPRequestHandler], None]) -> None:
        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                handle(self)

            def do_POST(self) -> None:
                handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer((LOOPBACK, 0), Handler)
        self.port = int(self.httpd.server_address[1])
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _answer(request: BaseHTTPRequestHandler, status: int, body: bytes, media: str) -> None:
    request.send_response(status)
    request.send_header("Content-Type", media)
    request.send_header("Content-Length", str(len(body)))
    request.end_headers()
    request.wfile.write(body)


class FeedServer:
    """Serves one tracker feed body at /feed.json and notes the moment of every fetch.

    `hold` (an Event, when set) makes each fetch wait until it is set or `hold_limit`
    passes: a poll in flight for as long as a test needs one."""

    def __init__(self, body: bytes = b"") -> None:
        self.body = body
        self.hits: list[float] = []
        self.lock = threading.Lock()
        self.hold: threading.Event | None = None
        self.hold_limit = 30.0
        self._server = _Server(self._handle)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.port}/feed.json"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        with self.lock:
            self.hits.append(time.monotonic())
            body, hold = self.body, self.hold
        if hold is not None:
            hold.wait(self.hold_limit)
        _answer(request, 200, body, "application/json")

    def hits_between(self, start: float, end: float) -> int:
        with self.lock:
            return sum(1 for hit in self.hits if start <= hit < end)

    def __enter__(self) -> FeedServer:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self._server.close()


@dataclass
class Delivery:
    webhook_id: str
    event_id: str | None
    event_type: str
    body: bytes
    headers: dict[str, str]


@dataclass
class Receiver:
    """A webhook endpoint at /hook: records every call (before answering), answers 200
    after `delay` seconds. `answered` holds the calls that got their answer sent."""

    delay: float = 0.0
    calls: list[Delivery] = field(default_factory=list)
    answered: list[Delivery] = field(default_factory=list)
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._server = _Server(self._handle)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self._server.port}/hook"

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        body = request.rfile.read(length)
        headers = {name.lower(): value for name, value in request.headers.items()}
        try:
            envelope = json.loads(body)
            data = envelope.get("data") or {}
            event_id = data.get("id") if envelope.get("type") != "webhook.ping" else None
            event_type = str(envelope.get("type"))
        except (ValueError, AttributeError):
            event_id, event_type = None, "?"
        call = Delivery(headers.get("webhook-id", ""), event_id, event_type, body, headers)
        with self.lock:
            self.calls.append(call)
            self.in_flight += 1
        try:
            if self.delay:
                time.sleep(self.delay)
            _answer(request, 200, b"ok", "text/plain")
            with self.lock:
                self.answered.append(call)
        finally:
            with self.lock:
                self.in_flight -= 1

    def event_ids(self) -> set[str]:
        with self.lock:
            return {call.event_id for call in self.calls if call.event_id}

    def webhook_ids(self) -> list[str]:
        with self.lock:
            return [call.webhook_id for call in self.calls]

    def __enter__(self) -> Receiver:
        self._server.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._server.close()


def new_key(prefix: str = "test") -> str:
    return f"{prefix}:{uuid.uuid4().hex}"
