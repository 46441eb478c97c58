"""/docs works offline (issue 21, item 7): Swagger UI's files come from the service itself,
pinned and integrity-checked by scripts/fetch-assets.sh (`make assets`), never from a CDN; the
page's Content-Security-Policy allows exactly its own files and its one inline script."""

import base64
import hashlib
import re
from pathlib import Path

import pytest

from service.web.apidocs import SWAGGER_UI_VERSION

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "service" / "web" / "static" / "vendor" / f"swagger-ui-{SWAGGER_UI_VERSION}"

pytestmark = pytest.mark.skipif(
    not (VENDOR / "swagger-ui-bundle.js").exists(),
    reason="!!! Swagger UI is not fetched: run `make assets` (scripts/fetch-assets.sh) !!!")


def _urls(html: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"]+)"', html) + re.findall(r"url: '([^']+)'", html)


def test_docs_references_only_local_urls_and_each_answers(client):
    r = client.get("/docs")
    assert r.status_code == 200
    urls = _urls(r.text)
    assert sorted(urls) == sorted([
        f"/web/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}/swagger-ui-bundle.js",
        f"/web/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}/swagger-ui.css",
        "/web/static/favicon.svg", "/openapi.json"])
    assert "http://" not in r.text and "https://" not in r.text and "//" not in "".join(urls)
    kinds = {".js": "javascript", ".css": "text/css", ".svg": "image/svg", ".json": "json"}
    for url in urls:
        asset = client.get(url)
        assert asset.status_code == 200, url
        assert next(v for k, v in kinds.items() if url.endswith(k)) in \
            asset.headers["content-type"], url
    bundle = client.get(urls[[u.endswith(".js") for u in urls].index(True)])
    assert len(bundle.content) > 1_000_000 and b"SwaggerUIBundle" in bundle.content


def test_the_csp_allows_the_page_and_nothing_else(client):
    r = client.get("/docs")
    csp = dict(part.strip().split(" ", 1) for part in
               r.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'self'"
    [inline] = re.findall(r"<script>(.*?)</script>", r.text, flags=re.S)
    digest = base64.b64encode(hashlib.sha256(inline.encode()).digest()).decode()
    assert csp["script-src"] == f"'self' 'sha256-{digest}'"  # self: the local bundle
    assert "unsafe-inline" not in csp["script-src"] and "http" not in str(csp)
    # The local files answer under the web pages' own policy, which allows 'self' scripts.
    asset = client.get(f"/web/static/vendor/swagger-ui-{SWAGGER_UI_VERSION}/swagger-ui.css")
    assert "default-src 'self'" in asset.headers["content-security-policy"]


def test_redoc_is_off_and_the_pins_agree(client):
    assert client.get("/redoc").status_code == 404
    script = (ROOT / "scripts" / "fetch-assets.sh").read_text()
    assert f'SWAGGER_UI_VERSION="{SWAGGER_UI_VERSION}"' in script
    stamp = (VENDOR.parent / "swagger-ui.version").read_text().split()
    assert stamp[0] == SWAGGER_UI_VERSION
    assert re.search(rf'SWAGGER_UI_INTEGRITY="{re.escape(stamp[1])}"', script)
