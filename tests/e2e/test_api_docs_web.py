"""/docs in a real browser, offline (issue 21, item 7): Swagger UI renders the operations from
the service's own files, with no console error (a CSP violation or a failed load would be one)
and no request leaving the service."""

import pytest

from tests.e2e.conftest import shot
from tests.contract.test_api_docs import VENDOR


@pytest.mark.skipif(not (VENDOR / "swagger-ui-bundle.js").exists(),
                    reason="!!! Swagger UI is not fetched: run `make assets` !!!")
def test_docs_render_offline(server, new_page):
    page = new_page()
    outside = []
    page.on("request", lambda req: req.url.startswith(server.url) or outside.append(req.url))
    page.goto("/docs")
    page.locator(".opblock-summary-path[data-path='/v1/years']").first.wait_for()
    assert page.locator(".opblock").count() > 50  # every operation of the open tags
    assert outside == []
    assert page.console_log.errors == []
    shot(page, "api-docs")
