"""Pure-ASGI middleware: request ids, structured access logs, metrics, body limits."""

import json
import logging
import os
import re
import time
import uuid
from urllib.parse import unquote_to_bytes

from service.errors import BadRequest, BodyTooLarge, UnsupportedMediaType
from service.metrics import REQUESTS

log = logging.getLogger("service.access")
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestContextMiddleware:
    """Gives every request an id (X-Request-ID, echoed back), enforces the body size limit and
    JSON content type on writes, logs one JSON line per request and counts it for /metrics."""

    def __init__(self, app, *, max_body_bytes: int):
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        incoming = headers.get("x-request-id", "")
        request_id = incoming if REQUEST_ID.match(incoming) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"x-request-id", request_id.encode())]
            await send(message)

        problem = self._refusal(scope, headers)
        if problem is not None:
            await _send_problem(send_wrapper, problem, scope)
        else:
            receive = self._limited(receive, send_wrapper, scope)
            try:
                await self.app(scope, receive, send_wrapper)
            except _TooLarge:
                await _send_problem(send_wrapper, BodyTooLarge(
                    f"request bodies are limited to {self.max_body_bytes} bytes"), scope)
        elapsed = time.perf_counter() - started
        route = scope.get("route")
        route_path = getattr(route, "path", None) or "unmatched"
        REQUESTS.observe(scope["method"], route_path, status_holder["status"], elapsed)
        log.info(json.dumps({"event": "request", "request_id": request_id,
                             "pid": os.getpid(),  # which of `--workers N` served it
                             "method": scope["method"], "path": scope["path"],
                             "route": route_path, "status": status_holder["status"],
                             "duration_ms": round(elapsed * 1000, 2)}))

    def _refusal(self, scope, headers):
        raw = scope.get("raw_path", b"") + b"?" + scope.get("query_string", b"")
        decoded = unquote_to_bytes(raw)
        if any(b < 0x20 or b == 0x7F for b in decoded):
            return BadRequest("control characters are not allowed in the URL")
        if scope["method"] not in ("POST", "PUT", "PATCH"):
            return None
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body_bytes:
            return BodyTooLarge(f"request bodies are limited to {self.max_body_bytes} bytes")
        ctype = headers.get("content-type", "")
        path = scope["path"]
        if path.startswith("/v1/") and length not in (None, "0") and ctype and \
                "json" not in ctype.split(";")[0]:
            return UnsupportedMediaType(f"send application/json, not {ctype.split(';')[0]}")
        return None

    def _limited(self, receive, send, scope):
        seen = 0
        limit = self.max_body_bytes

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


async def _send_problem(send, error, scope):
    body = error.problem()
    body["instance"] = scope["path"]
    payload = json.dumps(body).encode()
    await send({"type": "http.response.start", "status": error.status,
                "headers": [(b"content-type", b"application/problem+json"),
                            (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})
