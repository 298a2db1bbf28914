"""ASGI middleware: the request body limit and the request-duration histogram.

Both are plain ASGI rather than `BaseHTTPMiddleware`, which buffers and re-wraps
streams and hides the status of errors answered further in.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tracker.api.problems import BodyTooLarge, problem
from tracker.metrics import HTTP_REQUEST_DURATION

__all__ = ["BodySizeLimit", "RequestMetrics"]


class BodySizeLimit:
    """Refuse bodies over `limit` bytes with 413, before they are read into memory.

    A declared Content-Length over the limit is refused at once. A chunked body has no
    length up front, so it is counted as it arrives and stopped at the limit: the
    route's read raises BodyTooLarge, which problems.py answers.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        # The server has already refused a malformed Content-Length (h11, httptools).
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            too_large = BodyTooLarge(self.limit)
            response = problem(
                413, str(too_large), kind="body-too-large", instance=scope.get("path")
            )
            await response(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, counting_receive, send)


class RequestMetrics:
    """Observe each request's duration under its route template, method and status.

    The template (`/v1/companies/{slug}`), not the path, keeps the label set bounded;
    requests that match no route share the label "unmatched".
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        started = time.perf_counter()

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, recording_send)
        finally:
            route = scope.get("route")
            template = str(getattr(route, "path", "unmatched"))
            HTTP_REQUEST_DURATION.labels(template, scope["method"], str(status)).observe(
                time.perf_counter() - started
            )
