"""End-to-end fixtures: a real uvicorn server on a migrated SQLite file, and Debian's chromium
driven by Playwright for Python. `make test` installs chromium when it is missing; in CI
(CI=true) these tests must run, so a missing browser is an error rather than a skip."""

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

import httpx
import pytest

from service.kit import clock
from tests.factories import Api

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
IN_CI = os.environ.get("CI", "").lower() == "true"
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
ECHARTS = ROOT / "service" / "web" / "static" / "vendor"
BUSINESS_DAY = date(2026, 6, 15)
YEAR = 2026


def _missing() -> str | None:
    if not (shutil.which("chromium") or os.path.exists(CHROMIUM)):
        return (f"chromium is not installed at {CHROMIUM} "
                "(make test installs it: apt-get install chromium)")
    try:
        import playwright  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    if not any(ECHARTS.glob("echarts-*.min.js")):
        return "ECharts is not fetched (run `make assets`, i.e. scripts/fetch-assets.sh)"
    return None


E2E_SKIP_REASON = _missing()


def pytest_report_header(config):
    if E2E_SKIP_REASON:
        return [f"!!! browser end-to-end tests SKIPPED: {E2E_SKIP_REASON} !!!"]
    return [f"browser end-to-end tests use {CHROMIUM}"]


def pytest_collection_modifyitems(config, items):
    e2e = [item for item in items if "tests/e2e/" in str(item.fspath).replace(os.sep, "/")]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    if not E2E_SKIP_REASON or not e2e:
        return
    if IN_CI:
        raise pytest.UsageError(f"CI=true but the browser tests cannot run: {E2E_SKIP_REASON}")
    skip = pytest.mark.skip(reason=f"!!! SKIPPED: {E2E_SKIP_REASON} !!!")
    for item in e2e:
        item.add_marker(skip)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    api: Api


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Iterator[Server]:
    """The whole service (API and pages) in a real uvicorn, on today's business date of
    2026-06-15, with the 2026 budget year created."""
    import uvicorn

    from service.app import create_app
    from service.kit.db import make_engine, migrate

    patch = pytest.MonkeyPatch()
    patch.setattr(clock, "now", lambda: datetime.combine(BUSINESS_DAY, dtime(10, 0),
                                                        tzinfo=clock.SHANGHAI))
    path = tmp_path_factory.mktemp("e2e") / "e2e.db"
    url = f"sqlite:///{path}"
    migrate(url)
    engine = make_engine(url)
    port = _free_port()
    config = uvicorn.Config(create_app(engine), host="127.0.0.1", port=port, log_level="warning",
                            access_log=False, lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base, timeout=30) as client:
        api = Api(client, engine)
        api.year(YEAR)
        yield Server(url=base, api=api)
    uv.should_exit = True
    thread.join(timeout=10)
    engine.dispose()
    patch.undo()


def raw_key(headers: dict[str, str]) -> str:
    return headers["Authorization"].split(" ", 1)[1]


@dataclass
class World:
    api: Api
    enterprise: dict
    provider: dict
    ent_key: str
    prov_key: str


@pytest.fixture
def world(server) -> World:
    """A fresh enterprise and an approved provider, with an API key each."""
    api = server.api
    enterprise = api.enterprise(name="大连星河智能科技有限公司")
    provider = api.provider(name="大连人工智能计算中心")
    api.approve_provider(provider["id"], YEAR)
    return World(api=api, enterprise=enterprise, provider=provider,
                 ent_key=api.make_key("enterprise", enterprise_id=enterprise["id"]),
                 prov_key=api.make_key("provider", provider_id=provider["id"]))


@pytest.fixture(scope="session")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


class Console:
    """Console errors of a page (a CSP violation shows up here)."""

    def __init__(self):
        self.errors: list[str] = []


@pytest.fixture
def new_page(browser, server):
    """new_page(width=1280, height=800) -> a page in a fresh context (own cookies)."""
    contexts = []

    def make(width: int = 1280, height: int = 800):
        context = browser.new_context(viewport={"width": width, "height": height},
                                      base_url=server.url, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.console_log = Console()
        page.on("console", lambda m: m.type == "error" and page.console_log.errors.append(m.text))
        page.on("pageerror", lambda e: page.console_log.errors.append(str(e)))
        page.set_default_timeout(15_000)
        return page
    yield make
    for context in contexts:
        context.close()


def sign_in(page, key: str) -> None:
    page.goto("/web/login")
    page.locator("#api_key").fill(key)
    page.locator("form[action='/web/login'] button[type=submit]").click()
    page.wait_for_load_state("load")


def shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
