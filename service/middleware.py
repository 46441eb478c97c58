"""Pure-ASGI middleware: request ids, structured access logs, metrics, body limits, HEAD, the
age of an answer read on the replica (X-Data-As-Of), and the last word on unexpected errors."""

import json
import logging
import os
import re
import time
import uuid
from urllib.parse import unquote_to_bytes

from service.kit.errors import (
    BadRequest,
    BodyTooLarge,
    DatabaseUnavailable,
    DomainError,
    UnsupportedMediaType,
)
from service.problems import problem_headers
from service.metrics import REQUESTS

log = logging.getLogger("service.access")
errors_log = logging.getLogger(__name__)
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID, echoed back), enforces the body size limit and
    JSON content type on writes, answers HEAD wherever GET is answered, turns an exception that
    escapes the app into a 500 problem, and logs one JSON line per request (every response,
    including that 500) and counts it for /metrics."""

    def __init__(self, app, *, max_body_bytes: int, raw_bodies: dict[str, int] | None = None):
        self.app = app
        self.max_body_bytes = max_body_bytes
        # Paths that take a non-JSON body (XML, ZIP) and their own size limit.
        self.raw_bodies = raw_bodies or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        method = scope["method"]
        if method == "HEAD":
            # Run as GET and drop the body: headers (Content-Length included) are GET's.
            scope = {**scope, "method": "GET"}
        started = time.perf_counter()
        response = {"status": 500, "started": False}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                response["status"], response["started"] = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"x-request-id", request_id.encode())]
                if "data_as_of" in state:  # an answer from the replica (service/api.py)
                    message["headers"].append((b"x-data-as-of", state["data_as_of"].encode()))
            elif method == "HEAD" and message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        try:
            problem = self._refusal(scope, headers)
            if problem is None and method in WRITES and "content-length" not in headers:
                receive, problem = await self._buffered(receive, self._limit(scope))
            if problem is not None:
                await _send_problem(send_wrapper, problem, scope)
            else:
                await self.app(scope, self._limited(receive, self._limit(scope)), send_wrapper)
        except _TooLarge:
            if not response["started"]:
                await _send_problem(send_wrapper, self._too_large(self._limit(scope)), scope)
        except Exception as exc:
            if response["started"]:
                raise
            await _send_problem(send_wrapper, unexpected_error(exc, scope), scope,
                                request_id=request_id)
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            REQUESTS.observe(method, route_path, response["status"], elapsed)
            log.info(json.dumps({"event": "request", "request_id": request_id,
                                 "pid": os.getpid(),  # which of `--workers N` served it
                                 "method": method, "path": scope["path"],
                                 "route": route_path, "status": response["status"],
                                 "duration_ms": round(elapsed * 1000, 2)}))

    def _limit(self, scope) -> int:
        return self.raw_bodies.get(scope["path"], self.max_body_bytes)

    def _too_large(self, limit: int | None = None) -> DomainError:
        return BodyTooLarge(f"request bodies are limited to {limit or self.max_body_bytes} "
                            f"bytes")

    def _refusal(self, scope, headers):
        raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        decoded = unquote_to_bytes(raw)
        if any(b < 0x20 or b == 0x7F for b in decoded):
            return BadRequest("control characters are not allowed in the URL")
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self._limit(scope):
            return self._too_large(self._limit(scope))
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None
        ctype = headers.get("content-type", "")
        path = scope["path"]
        if path in self.raw_bodies:
            return None  # the route reads its own content types (XML, ZIP)
        if path.startswith("/v1/") and length not in (None, "0") and ctype and \
                "json" not in ctype.split(";")[0]:
            return UnsupportedMediaType(f"send application/json, not {ctype.split(';')[0]}")
        return None

    async def _buffered(self, receive, limit: int):
        """A body sent without Content-Length (chunked) is read here, up to the limit, so that
        it is refused exactly as one that declares its length: 413 before the app runs."""
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return receive, None  # the client went away; the app will see it too
            seen += len(message.get("body", b""))
            if seen > limit:
                return receive, self._too_large(limit)
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body, replayed = b"".join(chunks), False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return replay, None

    def _limited(self, receive, limit: int):
        seen = 0

        async def wrapped():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return message
        return wrapped


class _TooLarge(Exception):
    pass


def unexpected_error(exc: Exception, scope) -> DomainError:
    """The problem an exception that no handler took becomes: 503 when the database is
    unreachable or no pooled connection came free within DB_TIMEOUT_S, otherwise a logged 500
    `internal_error` (a 500 is always a bug)."""
    from service.kit.db import is_unavailable

    if is_unavailable(exc):
        errors_log.warning("database unavailable on %s %s: %s", scope.get("method"),
                           scope.get("path"), exc)
        return DatabaseUnavailable()
    errors_log.error("unexpected error on %s %s", scope.get("method"), scope.get("path"),
                     exc_info=exc)
    err = DomainError("an unexpected error occurred; it has been logged",
                      code="internal_error", status=500)
    err.title = "Internal server error"
    return err


async def _send_problem(send, error, scope, *, request_id: str | None = None):
    body = error.problem()
    body["instance"] = scope["path"]
    if request_id is not None:
        body["request_id"] = request_id
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/problem+json"),
               (b"content-length", str(len(payload)).encode())]
    headers += [(k.lower().encode(), v.encode())
                for k, v in (problem_headers(error) or {}).items()]
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
