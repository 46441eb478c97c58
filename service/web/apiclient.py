"""The pages call the service's own JSON API in-process, as the signed-in user.

The session holds only the id of the user's API key, never the key: the call names that id in
the ASGI scope (`IN_PROCESS_KEY_ID`), which `service.api.authenticate` checks like a key (not
revoked, not expired) — a scope entry no HTTP client can set.

Every rule, scope and audit record therefore comes from exactly the code API clients get:
the web layer only shapes what the API answers.
"""

from typing import Any

import httpx
from fastapi import Request

from service.auth.service import IN_PROCESS_KEY_ID


class ApiError(Exception):
    def __init__(self, status: int, problem: dict[str, Any]):
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code") or "http_error")
        super().__init__(f"{status} {self.code}: {problem.get('detail')}")

    @property
    def field_errors(self) -> list[dict[str, Any]]:
        return list(self.problem.get("errors") or [])


class Api:
    def __init__(self, request: Request, key_id: str):
        self.request = request
        self.key_id = key_id

    def _client(self) -> httpx.AsyncClient:
        app, key_id = self.request.app, self.key_id

        async def as_signed_in_user(scope, receive, send):
            await app({**scope, IN_PROCESS_KEY_ID: key_id}, receive, send)

        client = self.request.client
        # The real client's address, so the API's failed-authentication throttle stays per user.
        transport = httpx.ASGITransport(app=as_signed_in_user,
                                        client=(client.host, client.port) if client else
                                        ("127.0.0.1", 0))
        headers = {}
        request_id = getattr(self.request.state, "request_id", None)
        if request_id:
            headers["X-Request-ID"] = request_id
        return httpx.AsyncClient(transport=transport, base_url="http://in-process",
                                 headers=headers, timeout=60)

    async def call(self, method: str, path: str, *, params: dict | None = None,
                   json: Any = None, idempotency_key: str | None = None,
                   raw: bool = False) -> Any:
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        clean = {k: v for k, v in (params or {}).items() if v not in (None, "")}
        async with self._client() as client:
            response = await client.request(method, path, params=clean, json=json,
                                            headers=headers)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"code": "http_error", "detail": response.text[:200]}
            raise ApiError(response.status_code, problem)
        return response if raw else response.json()

    async def send(self, method: str, path: str, *, content: bytes, headers: dict[str, str],
                   params: dict[str, str]) -> httpx.Response:
        """A request with a raw body (an upload), answered as it is: refusals too."""
        async with self._client() as client:
            return await client.request(method, path, content=content, headers=headers,
                                        params=params)

    async def get(self, path: str, **params: Any) -> Any:
        return await self.call("GET", path, params=params)

    async def post(self, path: str, body: Any = None, *, idempotency_key: str | None = None,
                   **params: Any) -> Any:
        return await self.call("POST", path, json=body, params=params,
                               idempotency_key=idempotency_key)
