"""RequestContextMiddleware: an exception that escapes the app is a logged, counted 500
problem (issue 11, item 7); HEAD is answered wherever GET is (item 8)."""

import io
import json
import logging

from service.logs import JsonFormatter
from service.metrics import REQUESTS


def _access_lines(run) -> list[dict]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    access = logging.getLogger("service.access")
    access.addHandler(handler)
    try:
        run()
    finally:
        access.removeHandler(handler)
    return [json.loads(x) for x in stream.getvalue().splitlines()]


def _count(method: str, route: str, status: int) -> int:
    wanted = f'http_requests_total{{method="{method}",route="{route}",status="{status}"}} '
    return next((int(x.removeprefix(wanted)) for x in REQUESTS.render() if x.startswith(wanted)),
                0)


def test_unhandled_error_is_a_500_problem_logged_once_and_counted(app, api):
    def boom():
        raise RuntimeError("a bug")
    app.add_api_route("/v1/boom-for-test", boom, methods=["GET"])
    before = _count("GET", "/v1/boom-for-test", 500)
    responses = []
    lines = _access_lines(lambda: responses.append(
        api.client.get("/v1/boom-for-test", headers={"X-Request-ID": "boom-1"})))
    r = responses[0]
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["x-request-id"] == "boom-1"
    assert r.json() == {"type": "https://voucher.example.gov.cn/problems/internal_error",
                        "title": "Internal server error", "status": 500,
                        "detail": "an unexpected error occurred; it has been logged",
                        "code": "internal_error", "instance": "/v1/boom-for-test",
                        "request_id": "boom-1"}
    logged = [x for x in lines if x.get("request_id") == "boom-1"]
    assert [(x["event"], x["status"], x["route"]) for x in logged] == [
        ("request", 500, "/v1/boom-for-test")]
    assert _count("GET", "/v1/boom-for-test", 500) == before + 1
    assert 'route="/v1/boom-for-test",status="500"' in api.client.get("/metrics").text


def test_head_is_answered_wherever_get_is(api):
    api.year(2026)
    for path, headers in (("/healthz", {}), ("/readyz", {}), ("/web/login", {}),
                          ("/web/static/app.css", {}), ("/v1/years/2026", api.admin),
                          ("/openapi.json", {})):
        got = api.client.get(path, headers=headers, follow_redirects=False)
        head = api.client.head(path, headers=headers, follow_redirects=False)
        assert (path, head.status_code) == (path, got.status_code == 200 and 200)
        assert head.content == b""
        assert head.headers["content-type"] == got.headers["content-type"]
        if "content-length" in got.headers and path != "/web/login":  # the page has a token
            assert head.headers["content-length"] == got.headers["content-length"]
    web = api.client.head("/web/", follow_redirects=False)
    assert web.status_code == 303
    assert web.headers["location"] == "/web/login"
    unauthenticated = api.client.head("/v1/vouchers")
    assert (unauthenticated.status_code, unauthenticated.content) == (401, b"")
    # POST only: no GET to answer (/v1/years has had a GET since issue 21)
    assert api.client.head("/v1/related-parties").status_code == 405
