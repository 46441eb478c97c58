"""One access contract per domain (issue 22, item 1; docs/decisions.md, "One access statement
per domain"): every GET route under /v1 and every /web page reads a domain's rows through that
domain's `service/<domain>/access.py` readable statements, for every caller allowed to call it.

Each `readable*` function of every access module is wrapped with a recorder; each route is
called by every caller tests/contract/test_access_matrix.py allows, and must have called the readable
statements READS names for it. Routes and pages are read from the app, so a new one without an
entry fails; a route that reads a domain's rows without its readable fails too (shown by
`test_a_route_that_bypasses_readable_fails`)."""

import importlib
import pkgutil
import re
from collections.abc import Callable

import pytest
from sqlalchemy import create_engine
from sqlmodel import select

import service
from service.app import create_app
from service.invoices import access as invoice_access
from service.invoices import router as invoices_router
from service.invoices.models import Invoice
from tests.routes import walk
from tests.contract.test_access_matrix import ADMIN, ENT_A, PROV_A, REV_HOME, TABLE, Ctx
from tests.contract import test_access_matrix as matrix

# What each GET route reads: (domain, readable function) pairs it must call.
READS: dict[str, set[tuple[str, str]]] = {
    "/v1/redemptions": {("redemptions", "readable")},
    "/v1/redemptions/{redemption_id}": {("redemptions", "readable")},
    "/v1/holds": {("holds", "readable")},
    "/v1/holds/{hold_id}": {("holds", "readable")},
    "/v1/invoices": {("invoices", "readable")},
    "/v1/invoices/{invoice_id}": {("invoices", "readable")},
    "/v1/invoices/{invoice_id}/source": {("invoices", "readable_sources")},
    "/v1/years": {("years", "readable")},
    "/v1/years/{year}": {("years", "readable")},
    "/v1/enterprises": {("registry", "readable")},
    "/v1/enterprises/{enterprise_id}": {("registry", "readable")},
    "/v1/providers": {("registry", "readable_providers")},
    "/v1/providers/{provider_id}": {("registry", "readable_providers")},
    "/v1/api-keys": {("auth", "readable")},
    "/v1/applications": {("vouchers", "readable_applications")},
    "/v1/applications/{application_id}": {("vouchers", "readable_applications")},
    "/v1/vouchers": {("vouchers", "readable")},
    "/v1/vouchers/{voucher_id}": {("vouchers", "readable")},
    "/v1/settlements": {("settlements", "readable")},
    "/v1/settlements/{settlement_id}": {("settlements", "readable")},
    "/v1/settlements/{settlement_id}/export": {("settlements", "readable")},
    "/v1/ledger/accounts": {("ledger", "readable")},
    "/v1/ledger/transfers": {("ledger", "readable_transfers")},
    "/v1/audit-events": {("audit", "readable")},
    "/v1/years/{year}/scenarios": {("whatif", "readable")},
    "/v1/years/{year}/scenarios/{scenario_id}": {("whatif", "readable")},
    "/v1/reviews": {("risk", "readable")},
    "/v1/reviews/{review_id}": {("risk", "readable")},
    "/v1/public/awards": {("public", "readable")},
    # the bureau's indicators: year-wide aggregates, and the review counts through risk's
    "/v1/years/{year}/performance": {("risk", "readable")},
    "/v1/years/{year}/calendar": {("years", "readable")},
    "/v1/public/notices": {("settlements", "readable_published")},
    "/v1/public/notices/{settlement_id}": {("settlements", "readable_published")},
    "/v1/objections": {("notices", "readable")},
}

# GET routes that return no party's rows, and why: configuration, the rule catalogue, and the
# bureau's year-wide aggregates and checks (bureau-only; they read no row of a party on behalf
# of a party).
NO_ROWS: dict[str, str] = {
    "/v1/years/{year}/item-categories": "the year's item → category table (configuration)",
    "/v1/risk-rules": "the rule catalogue (configuration)",
    "/v1/years/{year}/budget": "the bureau's totals of the year (bureau-only aggregate)",
    "/v1/years/{year}/reconciliation": "the bureau's ledger check (bureau-only aggregate)",
    "/v1/years/{year}/report": "the bureau's annual report (bureau-only aggregate)",
    "/v1/audit-events/verify": "the bureau's hash-chain check (bureau-only)",
}

# Each /web page: who calls it, and the readable statements it must call. A page reads through
# the JSON API in-process, so it inherits the routes' statements.
PAGES: dict[str, tuple[str, set[tuple[str, str]]]] = {
    "/web/bureau": (ADMIN, {("vouchers", "readable_applications"), ("risk", "readable")}),
    "/web/bureau/applications": (ADMIN, {("vouchers", "readable_applications")}),
    "/web/bureau/vouchers": (ADMIN, {("vouchers", "readable")}),
    "/web/bureau/invoices": (ADMIN, {("invoices", "readable")}),
    "/web/bureau/redemptions": (ADMIN, {("redemptions", "readable")}),
    "/web/bureau/settlements": (ADMIN, {("settlements", "readable")}),
    "/web/bureau/settlements/{settlement_id}": (ADMIN, {("settlements", "readable")}),
    "/web/bureau/settlements/{settlement_id}/export": (ADMIN, {("settlements", "readable")}),
    "/web/bureau/notice": (ADMIN, {("settlements", "readable"), ("notices", "readable")}),
    "/web/bureau/reconciliation": (ADMIN, set()),  # a bureau-only aggregate
    "/web/bureau/audit": (ADMIN, {("audit", "readable")}),
    "/web/bureau/year": (ADMIN, {("years", "readable"), ("risk", "readable")}),
    "/web/bureau/year/close": (ADMIN, {("years", "readable")}),
    "/web/bureau/year/report": (ADMIN, set()),
    "/web/bureau/whatif": (ADMIN, {("years", "readable")}),
    "/web/bureau/whatif/export": (ADMIN, set()),
    "/web/bureau/reviews": (ADMIN, {("risk", "readable")}),
    "/web/bureau/reviews/{review_id}": (ADMIN, {("risk", "readable")}),
    "/web/bureau/risk-rules": (ADMIN, set()),
    "/web/enterprise": (ENT_A, {("vouchers", "readable"), ("invoices", "readable")}),
    "/web/enterprise/redemptions": (ENT_A, {("redemptions", "readable")}),
    "/web/enterprise/apply": (ENT_A, {("vouchers", "readable_applications")}),
    "/web/provider": (PROV_A, {("invoices", "readable")}),
    "/web/provider/invoices/{invoice_id}": (PROV_A, {("invoices", "readable")}),
    "/web/provider/upload": (PROV_A, set()),
    "/web/provider/upload/template.csv": (PROV_A, set()),
    "/web/provider/statements": (PROV_A, set()),
    "/web/provider/xml": (PROV_A, set()),
    "/web/provider/holds": (PROV_A, {("holds", "readable"), ("invoices", "readable")}),
    "/web/enterprise/holds": (ENT_A, {("holds", "readable")}),
    "/web/inbox": (REV_HOME, {("vouchers", "readable_applications"),
                              ("settlements", "readable")}),
    "/web/inbox/applications/{application_id}": (REV_HOME, {("vouchers",
                                                             "readable_applications")}),
    "/web/inbox/settlements/{settlement_id}": (REV_HOME, {("settlements", "readable")}),
}
# Pages that read nothing of a domain: the sign-in and language switch.
PAGES_WITHOUT_ROWS = {"/web/", "/web/lang/{code}", "/web/login"}


def _access_modules() -> dict[str, object]:
    """service.<domain>.access for every domain that has one."""
    found = {}
    for info in pkgutil.iter_modules(service.__path__):
        if info.ispkg:
            try:
                found[info.name] = importlib.import_module(f"service.{info.name}.access")
            except ModuleNotFoundError:
                continue
    return found


ACCESS = _access_modules()
world = matrix.ctx  # the access matrix's world: A's and B's objects, a caller of every role


@pytest.fixture
def recorded(monkeypatch) -> set[tuple[str, str]]:
    """(domain, function) for each readable statement built since the set was last cleared."""
    calls: set[tuple[str, str]] = set()

    def wrap(domain: str, name: str, fn: Callable) -> Callable:
        def recording(*args, **kwargs):
            calls.add((domain, name))
            return fn(*args, **kwargs)
        return recording

    for domain, module in ACCESS.items():
        for name in dir(module):
            if name.startswith("readable") and callable(getattr(module, name)):
                monkeypatch.setattr(module, name, wrap(domain, name, getattr(module, name)))
    return calls


def _gets(app, prefix: str) -> list[str]:
    return sorted({path for path, route in walk(app.routes)
                   if path.startswith(prefix) and "GET" in route.methods})


APP = create_app(create_engine("sqlite://"))
ROUTES = _gets(APP, "/v1/")
WEB_PAGES = _gets(APP, "/web/")


def test_every_get_route_and_page_is_listed():
    assert set(ROUTES) == set(READS) | set(NO_ROWS), set(ROUTES) ^ (set(READS) | set(NO_ROWS))
    assert set(WEB_PAGES) == set(PAGES) | PAGES_WITHOUT_ROWS, \
        set(WEB_PAGES) ^ (set(PAGES) | PAGES_WITHOUT_ROWS)


def test_every_domain_with_rows_has_an_access_module():
    assert {domain for reads in READS.values() for domain, _ in reads} <= set(ACCESS)
    assert {"invoices", "redemptions", "vouchers", "settlements", "registry", "risk", "ledger",
            "audit", "whatif", "years", "auth"} <= set(ACCESS)


def _reads_through(ctx: Ctx, recorded: set, path: str, caller: str,
                   expected: set[tuple[str, str]]) -> None:
    recorded.clear()
    rule = TABLE[("GET", path)]
    r = ctx.api.client.get(path.format(**ctx.params), headers=ctx.headers[caller],
                           params=rule.query)
    where = (path, caller, r.status_code, r.text[:200])
    assert r.status_code in (200, 404), where
    missing = expected - recorded
    assert not missing, f"{path} as {caller} read without {sorted(missing)}"


@pytest.mark.parametrize("path", sorted(READS))
def test_each_route_reads_through_its_domains_readable(world, recorded, path):
    ctx = world
    rule = TABLE[("GET", path)]
    if rule.prepare is not None:
        rule.prepare(ctx)
    for caller in sorted(rule.allowed):
        _reads_through(ctx, recorded, path, caller, READS[path])


def test_a_route_that_bypasses_readable_fails(world, recorded, monkeypatch):
    """A list of invoices built from the bare table, as the routers once did, fails the check."""
    class Bypass:
        readable = staticmethod(lambda principal: select(Invoice))

    monkeypatch.setattr(invoices_router, "access", Bypass)
    with pytest.raises(AssertionError, match="read without"):
        _reads_through(world, recorded, "/v1/invoices", ADMIN, READS["/v1/invoices"])
    monkeypatch.setattr(invoices_router, "access", invoice_access)
    _reads_through(world, recorded, "/v1/invoices", ADMIN, READS["/v1/invoices"])


def _sign_in(ctx: Ctx, caller: str) -> None:
    client = ctx.api.client
    client.cookies.clear()
    token = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/web/login").text).group(1)
    key = ctx.headers[caller]["Authorization"].removeprefix("Bearer ")
    r = client.post("/web/login", data={"api_key": key, "csrf_token": token},
                    follow_redirects=False)
    assert r.status_code == 303, r.text


def test_each_page_reads_through_its_domains_readable(world, recorded):
    ctx = world
    ctx.params["code"] = "en"
    failures: list[str] = []
    for caller in sorted({caller for caller, _ in PAGES.values()}):
        _sign_in(ctx, caller)
        for path, (page_caller, expected) in PAGES.items():
            if page_caller != caller:
                continue
            recorded.clear()
            r = ctx.api.client.get(path.format(**ctx.params), params={"year": 2026},
                                   follow_redirects=False)
            # a page that needs a form's answer redirects back (it reads nothing then)
            assert r.status_code == 200 or (r.status_code == 303 and not expected), \
                (path, caller, r.status_code, r.text[:300])
            if expected - recorded:
                failures.append(f"{path} as {caller} read without {sorted(expected - recorded)}"
                                f" (read: {sorted(recorded)})")
    ctx.api.client.cookies.clear()
    assert not failures, "\n".join(failures)
