"""Access control, table-driven (issue 5, part 5): every /v1 route × every caller.

Callers: admin, auditor, provider A, provider B, enterprise A, enterprise B, three reviewers
(city; district of A's enterprise; another district, who gets 404 like party B), no key, a revoked
key. Path parameters name party A's objects (A's invoice from provider A to enterprise A, A's
voucher, redemption and application). Per route, TABLE says which callers are allowed; party B
gets 404 on A's objects (`OWN` routes); everyone else gets 403; no key and a revoked key get 401.
The routes are read from the app, so a new route without an entry fails the test.

Allowed callers succeed: 2xx, or a business refusal (409, or a 422 that is not about the
request's shape) — never 401/403/404. A 404 for another party's object is byte-for-byte the 404
for an id that does not exist, apart from the id itself.

Also here: failed authentication is throttled (429) and audited (auth.throttle), and keys rotate
without downtime (DELETE ?grace_seconds keeps the old key working until the grace ends).
"""

import itertools
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import create_engine

from service.kit import clock
from service.app import create_app
from service.auth.cache import AuthThrottle
from tests.routes import walk
from tests.factories import Api, bearer, uscc
from tests.flows import invoice_body, invoice_number, line, make_world
from tests.inprocess import InProcessClient

ADMIN, AUDITOR = "admin", "auditor"
PROV_A, PROV_B, ENT_A, ENT_B = "provider A", "provider B", "enterprise A", "enterprise B"
NO_KEY, REVOKED = "no key", "revoked key"
# Reviewers (issue 14): one at the city level, one at the district level in A's district, one
# in another district (who gets 404 for A's objects, as another party does).
REV_CITY, REV_HOME, REV_OTHER = "city reviewer", "district reviewer A", "district reviewer B"
REVIEWERS = {REV_CITY, REV_HOME, REV_OTHER}
CALLERS = [ADMIN, AUDITOR, PROV_A, PROV_B, ENT_A, ENT_B, REV_CITY, REV_HOME, REV_OTHER, NO_KEY,
           REVOKED]
BUREAU = {ADMIN, AUDITOR}
PROVIDERS = {PROV_A, PROV_B}
ENTERPRISES = {ENT_A, ENT_B}
ANYONE = BUREAU | PROVIDERS | ENTERPRISES


@dataclass
class Rule:
    """allowed: callers that may call the route. owners: for routes on a party's object, the
    allowed callers that may see party A's object; the other allowed callers get 404."""

    allowed: set[str]
    owners: set[str] | None = None
    body: Any = None  # a dict, or a function (ctx, caller) -> dict, for writes
    query: dict[str, Any] = field(default_factory=dict)
    content: Any = None  # a function (ctx, caller) -> (bytes, content type): a non-JSON body
    prepare: Any = None  # a function (ctx) -> None run first (e.g. to point params elsewhere)
    public: bool = False  # no key needed: every caller, a revoked key too, may call it
    limited: bool = False  # a per-address rate limit may answer 429 (service/ratelimit)


def _enterprise(ctx, caller):
    return {"uscc": uscc(), "name": "大连测试企业", "district": "高新园区"}


def _provider(ctx, caller):
    return {"uscc": uscc(), "name": "大连测试算力"}


def _invoice(ctx, caller):
    return invoice_body(ctx.ent_a["uscc"], [line("gpu", 100_000)])


def _reversal(ctx, caller):
    return {"invoice_number": invoice_number(), "issued_on": "2026-06-01", "amount_fen": 1,
            "reason": "服务量调整"}


def _reviewer(api: Api, level: str, district: str | None = None) -> dict[str, str]:
    body = {"role": "reviewer", "name": f"{level} reviewer", "review_level": level,
            **({"district": district} if district else {})}
    return bearer(api.ok("POST", "/v1/api-keys", json=body, expect=201)["key"])


def _xml(ctx, caller):
    from tests import xmlgen
    x = xmlgen.XInvoice(ctx.prov_a["uscc"], ctx.ent_a["uscc"], [xmlgen.gpu(100_000)])
    return x.xml(), "application/xml"


def _xml_invoice(ctx):
    """A's invoice posted from XML, so that it has a source file."""
    content, ctype = _xml(ctx, PROV_A)
    ctx.params["invoice_id"] = ctx.api.ok(
        "POST", "/v1/invoices/xml", headers={**ctx.headers[PROV_A], "Content-Type": ctype},
        content=content, params=_PERIOD, expect=201)["items"][0]["id"]


def _published(ctx):
    """A's settlement batch approved and published (公示, docs/notice.md)."""
    api, settlement_id = ctx.api, ctx.params["settlement_id"]
    api.ok("PATCH", "/v1/years/2026", json={"notice_working_days": 5})
    api.ok("POST", f"/v1/settlements/{settlement_id}/approve")
    api.ok("POST", f"/v1/settlements/{settlement_id}/publish")


def _objection_body(ctx, caller):
    line_id = ctx.api.ok("GET", f"/v1/settlements/{ctx.params['settlement_id']}")[
        "lines"][0]["line_id"]
    return {"line_ids": [line_id], "name": "张三", "phone": "13912345678",
            "content": "该企业的发票金额与合同不符，请核查。"}


def _objection(ctx):
    _published(ctx)
    r = ctx.api.client.post(f"/v1/public/notices/{ctx.params['settlement_id']}/objections",
                            json=_objection_body(ctx, ADMIN))
    assert r.status_code == 201, r.text
    ctx.params["objection_id"] = r.json()["id"]


_PERIOD = {"service_start": "2026-04-01", "service_end": "2026-04-30"}
_years = itertools.count(2030)

TABLE: dict[tuple[str, str], Rule] = {
    ("POST", "/v1/years"): Rule({ADMIN}, body=lambda ctx, c: {"year": next(_years)}),
    ("GET", "/v1/years"): Rule(BUREAU),
    ("GET", "/v1/years/{year}"): Rule(BUREAU),
    ("PATCH", "/v1/years/{year}"): Rule({ADMIN}, body={"alert_thresholds_bp": [5000]}),
    ("GET", "/v1/years/{year}/budget"): Rule(BUREAU),
    ("GET", "/v1/years/{year}/reconciliation"): Rule(BUREAU),
    ("POST", "/v1/years/{year}/close"): Rule({ADMIN}, body={}),
    ("POST", "/v1/years/{year}/reclaim"): Rule({ADMIN}, body={
        "issued_before": "2026-12-31", "max_used_bp": 1, "reclaim_bp": 1}),
    ("GET", "/v1/years/{year}/report"): Rule(BUREAU),
    ("GET", "/v1/years/{year}/performance"): Rule(BUREAU),
    ("POST", "/v1/enterprises"): Rule({ADMIN}, body=_enterprise),
    ("GET", "/v1/enterprises"): Rule(BUREAU | REVIEWERS),
    ("GET", "/v1/enterprises/{enterprise_id}"): Rule(BUREAU | REVIEWERS,
                                                     owners=BUREAU | {REV_CITY, REV_HOME}),
    ("PATCH", "/v1/enterprises/{enterprise_id}"): Rule({ADMIN}, body={"district": "中山区"}),
    ("POST", "/v1/providers"): Rule({ADMIN}, body=_provider),
    ("GET", "/v1/providers"): Rule(BUREAU),
    ("GET", "/v1/providers/{provider_id}"): Rule(BUREAU),
    ("PATCH", "/v1/providers/{provider_id}"): Rule({ADMIN}, body={"name": "大连智算中心二期"}),
    ("PUT", "/v1/years/{year}/approved-providers/{provider_id}"): Rule({ADMIN},
                                                                       body={"approved": True}),
    ("POST", "/v1/related-parties"): Rule({ADMIN}, body=lambda ctx, c: {
        "enterprise_id": ctx.ent_b["id"], "provider_id": ctx.prov_b["id"], "reason": "同一控制人"}),
    ("POST", "/v1/other-subsidies"): Rule({ADMIN}, body=lambda ctx, c: {
        "enterprise_id": ctx.ent_b["id"], "programme": "省级补贴", "amount_fen": 1,
        "contract_number": "HT-2026-001"}),
    ("POST", "/v1/api-keys"): Rule({ADMIN}, body={"role": "auditor", "name": "审计"}),
    ("GET", "/v1/api-keys"): Rule(BUREAU),  # metadata only: who has access (issue 11, item 2)
    ("DELETE", "/v1/api-keys/{key_id}"): Rule({ADMIN}),
    ("POST", "/v1/applications"): Rule(ENTERPRISES, body={
        "year": 2026, "requested_fen": 1_000, "project_name": "推理", "purpose": "GPU"}),
    ("GET", "/v1/applications"): Rule(BUREAU | ENTERPRISES | REVIEWERS),
    ("GET", "/v1/applications/{application_id}"): Rule(
        BUREAU | ENTERPRISES | REVIEWERS, owners=BUREAU | {ENT_A, REV_CITY, REV_HOME}),
    ("POST", "/v1/applications/{application_id}/reviews"): Rule(
        {ADMIN} | REVIEWERS, owners={ADMIN, REV_CITY, REV_HOME}, body={"decision": "approve"}),
    ("POST", "/v1/applications/{application_id}/approve"): Rule({ADMIN}, body={}),
    ("POST", "/v1/applications/{application_id}/reject"): Rule({ADMIN},
                                                               body={"reason": "材料不全"}),
    ("POST", "/v1/vouchers"): Rule({ADMIN}, body=lambda ctx, c: {
        "enterprise_id": ctx.ent_b["id"], "year": 2026, "face_fen": 1_000}),
    ("GET", "/v1/vouchers"): Rule(BUREAU | ENTERPRISES),
    ("GET", "/v1/vouchers/{voucher_id}"): Rule(BUREAU | ENTERPRISES, owners=BUREAU | {ENT_A}),
    ("POST", "/v1/vouchers/{voucher_id}/revoke"): Rule({ADMIN}, body={"reason": "测试"}),
    ("POST", "/v1/invoices"): Rule(PROVIDERS, body=_invoice),
    ("POST", "/v1/invoices/batch"): Rule(PROVIDERS,
                                         body=lambda ctx, c: {"invoices": [_invoice(ctx, c)]}),
    ("GET", "/v1/invoices"): Rule(ANYONE),
    ("GET", "/v1/invoices/{invoice_id}"): Rule(ANYONE, owners=BUREAU | {PROV_A, ENT_A}),
    ("POST", "/v1/invoices/{invoice_id}/payments"): Rule(
        PROVIDERS, owners={PROV_A}, body={"amount_fen": 1, "paid_on": "2026-05-20"}),
    ("POST", "/v1/invoices/{invoice_id}/reversals"): Rule(PROVIDERS, owners={PROV_A},
                                                          body=_reversal),
    ("POST", "/v1/invoices/xml"): Rule(PROVIDERS, content=_xml, query=_PERIOD),
    ("GET", "/v1/invoices/{invoice_id}/source"): Rule(ANYONE, owners=BUREAU | {PROV_A},
                                                      prepare=_xml_invoice),
    ("GET", "/v1/years/{year}/item-categories"): Rule(BUREAU | PROVIDERS),
    ("PUT", "/v1/years/{year}/item-categories"): Rule({ADMIN}, body={"rules": [
        {"match": "item_name", "pattern": "GPU", "category": "gpu"}]}),
    ("POST", "/v1/usage-statements"): Rule(PROVIDERS, body=lambda ctx, c: {
        "month": "2026-05", "lines": [{"enterprise_uscc": ctx.ent_a["uscc"], "billed_fen": 1}]}),
    # The invoice named in the body is A's: enterprise B may not learn that it exists.
    ("POST", "/v1/redemptions"): Rule(ENTERPRISES, owners={ENT_A},
                                      body=lambda ctx, c: {"invoice_id": ctx.invoice_id}),
    ("GET", "/v1/redemptions"): Rule(ANYONE),
    # Holds (docs/holds.md): A's hold, placed by provider A on enterprise A's 2027 voucher.
    ("POST", "/v1/holds"): Rule(PROVIDERS, body=lambda ctx, c: _hold_body(ctx)),
    ("GET", "/v1/holds"): Rule(ANYONE),
    ("GET", "/v1/holds/{hold_id}"): Rule(ANYONE, owners=BUREAU | {PROV_A, ENT_A}),
    ("POST", "/v1/holds/{hold_id}/capture"): Rule(PROVIDERS, owners={PROV_A},
                                                  body=lambda ctx, c: {
                                                      "invoice_id": ctx.invoice_id}),
    ("POST", "/v1/holds/{hold_id}/void"): Rule({ADMIN} | PROVIDERS | ENTERPRISES,
                                               owners={ADMIN, PROV_A, ENT_A}),
    ("GET", "/v1/redemptions/{redemption_id}"): Rule(ANYONE, owners=BUREAU | {PROV_A, ENT_A}),
    ("POST", "/v1/settlements"): Rule({ADMIN}, body={"year": 2026}),
    ("GET", "/v1/settlements"): Rule(BUREAU | REVIEWERS),
    ("GET", "/v1/settlements/{settlement_id}"): Rule(BUREAU | REVIEWERS,
                                                     owners=BUREAU | {REV_CITY, REV_HOME}),
    ("POST", "/v1/settlements/{settlement_id}/reviews"): Rule(
        {ADMIN} | REVIEWERS, owners={ADMIN, REV_CITY, REV_HOME}, body={"decision": "approve"}),
    ("POST", "/v1/settlements/{settlement_id}/approve"): Rule({ADMIN}),
    ("POST", "/v1/settlements/{settlement_id}/pay"): Rule({ADMIN},
                                                          body={"bank_reference": "BOC-1"}),
    ("GET", "/v1/settlements/{settlement_id}/export"): Rule(BUREAU),
    # 公示 (issue 24, docs/notice.md): the notice and objections to it need no key; the bureau
    # reads objections with the objector's identity, an admin resolves them
    ("POST", "/v1/settlements/{settlement_id}/publish"): Rule({ADMIN}),
    ("GET", "/v1/years/{year}/calendar"): Rule(BUREAU),
    ("PUT", "/v1/years/{year}/calendar"): Rule({ADMIN}, body={"holidays": ["2026-10-01"]}),
    ("GET", "/v1/public/notices"): Rule(set(CALLERS), public=True),
    ("GET", "/v1/public/notices/{settlement_id}"): Rule(set(CALLERS), public=True,
                                                        prepare=_published),
    ("POST", "/v1/public/notices/{settlement_id}/objections"): Rule(
        set(CALLERS), public=True, limited=True, body=_objection_body, prepare=_published),
    ("GET", "/v1/objections"): Rule(BUREAU, prepare=_objection),
    ("POST", "/v1/objections/{objection_id}/resolve"): Rule(
        {ADMIN}, body={"outcome": "dismissed", "reason": "经核查不成立"}, prepare=_objection),
    ("GET", "/v1/ledger/accounts"): Rule(BUREAU),
    ("GET", "/v1/ledger/transfers"): Rule(BUREAU),
    ("GET", "/v1/audit-events"): Rule(BUREAU),
    ("GET", "/v1/audit-events/verify"): Rule(BUREAU),
    # policy what-if (issue 13): the bureau reads and compares, the admin stores scenarios
    ("POST", "/v1/years/{year}/scenarios"): Rule({ADMIN}, body={"name": "20%",
                                                               "overrides": {"rate_bp": 2000}}),
    ("GET", "/v1/years/{year}/scenarios"): Rule(BUREAU),
    ("GET", "/v1/years/{year}/scenarios/{scenario_id}"): Rule(BUREAU),
    ("POST", "/v1/years/{year}/scenarios/compare"): Rule(BUREAU, body={
        "scenarios": [{"name": "20%", "overrides": {"rate_bp": 2000}}]}),
    # risk flags and the review queue (issue 14): the bureau reads, an admin (or a reviewer)
    # decides; the back-test writes nothing, so the auditor may run it
    ("GET", "/v1/reviews"): Rule(BUREAU | REVIEWERS, query={"status": "open"}),
    # a district reviewer sees only its district's enterprises (A is of REV_HOME's district)
    ("GET", "/v1/reviews/{review_id}"): Rule(BUREAU | REVIEWERS,
                                             owners=BUREAU | {REV_CITY, REV_HOME}),
    ("POST", "/v1/reviews/{review_id}/clear"): Rule(
        {ADMIN} | REVIEWERS, owners={ADMIN, REV_CITY, REV_HOME}, body={"reason": "核实无误"}),
    ("POST", "/v1/reviews/{review_id}/reject"): Rule(
        {ADMIN} | REVIEWERS, owners={ADMIN, REV_CITY, REV_HOME}, body={"reason": "确属拆分"}),
    ("GET", "/v1/risk-rules"): Rule(BUREAU | REVIEWERS, query={"year": 2026}),
    ("POST", "/v1/years/{year}/risk-rules/backtest"): Rule(BUREAU, body={}),
    # open data (issue 24 §2): anyone, with no key or any key, good or bad
    ("GET", "/v1/public/awards"): Rule(set(CALLERS), public=True, limited=True,
                                        query={"year": 2026}),
}


def _v1_routes(app) -> list[tuple[str, str]]:
    found = {(method, path) for path, route in walk(app.routes) if path.startswith("/v1/")
             for method in route.methods if method != "HEAD"}
    # Cross-check the walk against the OpenAPI document, so a FastAPI change cannot hide routes.
    documented = {(method.upper(), path) for path, ops in app.openapi()["paths"].items()
                  if path.startswith("/v1/") for method in ops}
    assert documented <= found, documented - found
    return sorted(found)


# Collected from the app itself: a route missing from TABLE fails its own test below.
ROUTES = _v1_routes(create_app(create_engine("sqlite://")))


def test_table_has_no_stale_entries():
    assert set(TABLE) - set(ROUTES) == set(), "TABLE lists routes the app no longer has"


@dataclass
class Ctx:
    api: Api
    headers: dict[str, dict[str, str]]
    ent_a: dict
    ent_b: dict
    prov_a: dict
    prov_b: dict
    params: dict[str, str]

    @property
    def invoice_id(self) -> str:
        return self.params["invoice_id"]


def _hold_body(ctx) -> dict:
    return {"voucher_code": ctx.params["hold_voucher_code"], "enterprise_uscc": ctx.ent_a["uscc"],
            "year": 2027, "service_start": "2027-03-01", "service_end": "2027-03-31",
            "lines": [{"category": "gpu", "amount_fen": 100_000}]}


def _hold(api: Api, world) -> dict:
    """A pending hold in a deduction-mode 2027, placed on that year's first working days."""
    api.year(2027, settlement_mode="deduction")
    api.approve_provider(world.provider["id"], 2027)
    code = api.voucher(world.enterprise["id"], 500_000, year=2027)["code"]
    real_now = clock.now
    clock.now = lambda: datetime(2027, 3, 1, 12, tzinfo=clock.SHANGHAI)
    try:
        hold = api.ok("POST", "/v1/holds", headers=world.prov, expect=201, json={
            "voucher_code": code, "enterprise_uscc": world.enterprise["uscc"], "year": 2027,
            "service_start": "2027-03-01", "service_end": "2027-03-31",
            "expires_in_s": 30 * 24 * 3600, "lines": [{"category": "gpu", "amount_fen": 100_000}]})
    finally:
        clock.now = real_now
    return {"hold_id": hold["id"], "hold_voucher_code": code}


def _seed(api: Api) -> Ctx:
    world = make_world(api)  # 2026, enterprise A, provider A (approved), their keys
    ent_b, prov_b = api.enterprise(), api.provider()
    api.approve_provider(prov_b["id"])
    invoice = world.invoice([line("gpu", 1_000_000)], end="2026-05-31")
    voucher = world.voucher(500_000)
    redemption = world.redeem(invoice["id"], voucher["id"])
    application = api.ok("POST", "/v1/applications", headers=world.ent, expect=201,
                         json={"year": 2026, "requested_fen": 100_000, "project_name": "大模型",
                               "purpose": "训练"})
    settlement = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    # a redemption held for review (a round amount at a review threshold of 10)
    api.ok("PATCH", "/v1/years/2026", json={"review_threshold": 10})
    world.redeem(world.invoice([line("gpu", 10_000_000)], end="2026-05-31")["id"])
    (review,) = api.ok("GET", "/v1/reviews")["items"]
    target_key = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "轮换"},
                        expect=201)
    revoked = api.ok("POST", "/v1/api-keys", json={"role": "admin", "name": "已吊销"},
                     expect=201)
    api.ok("DELETE", f"/v1/api-keys/{revoked['id']}")
    headers = {ADMIN: api.admin, AUDITOR: api.auditor(), PROV_A: world.prov,
               PROV_B: api.provider_key(prov_b["id"]), ENT_A: world.ent,
               ENT_B: api.enterprise_key(ent_b["id"]),
               REV_CITY: _reviewer(api, "city"), REV_HOME: _reviewer(api, "district", "高新园区"),
               REV_OTHER: _reviewer(api, "district", "中山区"), NO_KEY: {},
               REVOKED: bearer(revoked["key"])}
    params = {"year": "2026", "enterprise_id": world.enterprise["id"],
              "provider_id": world.provider["id"], "key_id": target_key["id"],
              "application_id": application["id"], "voucher_id": voucher["id"],
              "invoice_id": invoice["id"], "redemption_id": redemption["id"],
              "settlement_id": settlement["id"], "review_id": review["id"],
              "scenario_id": api.ok("POST", "/v1/years/2026/scenarios", expect=201,
                                    json={"name": "现行", "overrides": {}})["id"],
              **_hold(api, world)}
    return Ctx(api=api, headers=headers, ent_a=world.enterprise, ent_b=ent_b,
               prov_a=world.provider, prov_b=prov_b, params=params)


@pytest.fixture
def ctx(shared_world, today) -> Ctx:
    """Party A's and party B's world, seeded once per module and database and restored for
    each route's test (tests/seeded.py): each test starts from the same rows."""
    today("2026-06-01")
    _api, ctx = shared_world(_seed)
    return ctx


def _expected(rule: Rule, caller: str) -> int | None:
    """None: allowed (must succeed or be refused for a business reason)."""
    if rule.public:
        return None
    if caller in (NO_KEY, REVOKED):
        return 401
    if caller not in rule.allowed:
        return 403
    if rule.owners is not None and caller not in rule.owners:
        return 404
    return None


def _role(caller: str) -> str:
    return "reviewer" if caller in REVIEWERS else caller.split()[0]


def _fake(real_id: str) -> str:
    """An id of the same shape that names nothing."""
    return real_id[:-6] + "ZZZZZZ"


def _request(ctx: Ctx, method: str, path: str, rule: Rule, caller: str,
             params: dict[str, str] | None = None, body: Any = None):
    url = path.format(**(params or ctx.params))
    if body is None and rule.body is not None:
        body = rule.body(ctx, caller) if callable(rule.body) else rule.body
    if rule.content is not None:
        content, ctype = rule.content(ctx, caller)
        return ctx.api.client.request(method, url, content=content, params=rule.query,
                                      headers={**ctx.headers[caller], "Content-Type": ctype})
    return ctx.api.client.request(method, url, headers=ctx.headers[caller], json=body,
                                  params=rule.query)


@pytest.mark.parametrize("method, path", ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_access(ctx, method, path):
    if (method, path) not in TABLE:
        pytest.fail(f"{method} {path} has no entry in TABLE (tests/contract/test_access_matrix.py): "
                    "say who may call it")
    rule = TABLE[(method, path)]
    if rule.prepare is not None:
        rule.prepare(ctx)
    # Refusals first: an allowed write (close, revoke, approve) must not change what the
    # refused callers see.
    callers = sorted(CALLERS, key=lambda c: _expected(rule, c) is None)
    for caller in callers:
        expected = _expected(rule, caller)
        r = _request(ctx, method, path, rule, caller)
        where = (method, path, caller, r.status_code, r.text[:300])
        if expected is None:
            assert r.status_code < 400 or r.status_code in (409, 422) or (
                rule.limited and r.status_code == 429), where
            if r.status_code == 422:
                # A business refusal, not a request this table got wrong.
                assert r.json()["code"] != "validation_error" or not r.json().get("errors"), where
            continue
        assert r.status_code == expected, where
        assert r.headers["content-type"] == "application/problem+json", where
        problem = r.json()
        assert problem["code"] == {401: "unauthenticated", 403: "forbidden",
                                   404: "not_found"}[expected], where
        if expected == 403:  # the refusal names the roles that may (issue 21, item 8)
            assert _role(caller) not in problem["allowed_roles"], where
            assert {_role(c) for c in rule.allowed} <= set(problem["allowed_roles"]), where
            assert problem["detail"].startswith(f"role {_role(caller)} may not do this; only "
                                                f"role"), where
        if expected == 401:
            assert r.headers["www-authenticate"] == "Bearer", where
            if method in ("POST", "PUT", "PATCH"):
                # FastAPI parses JSON before running dependencies: a malformed body must still
                # be 401, not a 422 that answers before authentication.
                bad = ctx.api.client.request(method, path.format(**ctx.params), content=b"{",
                                             headers={**ctx.headers[caller],
                                                      "Content-Type": "application/json"})
                assert bad.status_code == 401, (method, path, caller, bad.text)
        if expected == 404:
            _assert_indistinguishable(ctx, method, path, rule, caller, r)


def _assert_indistinguishable(ctx, method, path, rule, caller, response):
    """The 404 for A's object must equal the 404 for an id that does not exist."""
    params, body = dict(ctx.params), None
    if "{" in path:
        name = path[path.rindex("{") + 1:path.rindex("}")]
        real = params[name]
        params[name] = _fake(real)
    else:  # the object is named in the body (POST /v1/redemptions)
        body = rule.body(ctx, caller)
        real = body["invoice_id"]
        body = {**body, "invoice_id": _fake(real)}
    missing = _request(ctx, method, path, rule, caller, params=params, body=body)
    assert missing.status_code == 404, (method, path, caller, missing.text)
    assert response.text.replace(real, _fake(real)) == missing.text, \
        (method, path, caller, response.text, missing.text)
    assert response.headers["content-type"] == missing.headers["content-type"]


# --- throttling ---------------------------------------------------------------------------------


def test_failed_authentication_is_throttled_and_audited(engine):
    app = create_app(engine)
    limit = AuthThrottle().limit
    with InProcessClient(app, raise_server_exceptions=False) as client:
        api = Api(client, engine)
        for n in range(limit):
            r = client.get("/v1/enterprises", headers=bearer(f"cvk_guess_{n}"))
            assert r.status_code == 401, (n, r.text)
        # Blocked now: even a good key from this client waits, and so does no key at all.
        for headers in (bearer("cvk_guess_again"), api.admin, {}):
            r = client.get("/v1/enterprises", headers=headers)
            assert r.status_code == 429, r.text
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["code"] == "too_many_requests"
        app.state.auth_throttle._blocked_until.clear()  # to read the audit trail
        events = api.ok("GET", "/v1/audit-events", params={"action": "auth.throttle"})["items"]
        assert len(events) == 1, events
        assert events[0]["action"] == "auth.throttle"


# --- rotation -----------------------------------------------------------------------------------


def test_key_rotation_without_downtime(api, monkeypatch):
    start = datetime(2026, 6, 1, 9, 0, tzinfo=clock.SHANGHAI)
    monkeypatch.setattr(clock, "now", lambda: start)
    old = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "旧钥"}, expect=201)
    assert api.client.get("/v1/enterprises", headers=bearer(old["key"])).status_code == 200
    new = api.ok("POST", "/v1/api-keys", json={"role": "auditor", "name": "新钥"}, expect=201)
    rotated = api.ok("DELETE", f"/v1/api-keys/{old['id']}", params={"grace_seconds": 60})
    assert rotated["revoked_at"] is None
    assert rotated["expires_at"] == "2026-06-01T09:01:00+08:00"
    # During the grace period both keys work (and the cache was cleared by the DELETE).
    for key in (old["key"], new["key"]):
        assert api.client.get("/v1/enterprises", headers=bearer(key)).status_code == 200
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=59))
    api.client.app.state.key_cache.clear()
    assert api.client.get("/v1/enterprises", headers=bearer(old["key"])).status_code == 200
    # After it, the old key is refused and the new one carries on.
    monkeypatch.setattr(clock, "now", lambda: start + timedelta(seconds=61))
    api.client.app.state.key_cache.clear()  # entries live 2 s; a real worker waits that out
    r = api.client.get("/v1/enterprises", headers=bearer(old["key"]))
    assert r.status_code == 401 and r.json()["code"] == "unauthenticated", r.text
    assert api.client.get("/v1/enterprises", headers=bearer(new["key"])).status_code == 200
    actions = [e["action"] for e in api.ok("GET", "/v1/audit-events",
                                            params={"object_id": old["id"]})["items"]]
    assert actions == ["api_key.create", "api_key.revoke"]
