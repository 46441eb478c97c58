"""The interactive API documentation at /docs: Swagger UI from the service's own static files
(fetched, pinned and integrity-checked by scripts/fetch-assets.sh), so it works offline and
loads nothing from a CDN. ReDoc is not served (/redoc is off): one documentation page is
enough, and the committed openapi/openapi.json serves every other reader."""

import base64
import hashlib
import re

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse

# Keep in step with SWAGGER_UI_VERSION in scripts/fetch-assets.sh.
SWAGGER_UI_VERSION = "5.18.2"
SWAGGER_UI_DIR = f"/web/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}"
DOCS_URL = "/docs"


def _csp(html: str) -> str:
    """Only this page's own inline start-up script (by its hash) and the service's own files.
    Swagger UI sets styles from script and shows data: images, hence those two allowances."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script.encode()).digest()).decode() + "'"
        for script in re.findall(r"<script>(.*?)</script>", html, flags=re.S))
    return (f"default-src 'self'; script-src 'self' {hashes}; style-src 'self' 'unsafe-inline'; "
            "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'; "
            "form-action 'self'")


def install(app: FastAPI) -> None:
    """Serve /docs (create the app with docs_url=None and redoc_url=None)."""
    page = get_swagger_ui_html(openapi_url=app.openapi_url, title=f"{app.title} — API",
                               swagger_js_url=f"{SWAGGER_UI_DIR}/swagger-ui-bundle.js",
                               swagger_css_url=f"{SWAGGER_UI_DIR}/swagger-ui.css",
                               swagger_favicon_url="/web/static/favicon.svg")
    html = page.body.decode()
    headers = {"Content-Security-Policy": _csp(html), "X-Content-Type-Options": "nosniff"}

    @app.get(DOCS_URL, include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(html, headers=headers)
