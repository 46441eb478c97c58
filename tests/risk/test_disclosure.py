"""Registry facts never leave their owner (issue 20 items 1 and 2, docs/risk.md "Who sees a
flag's evidence").

Enterprise E1 registers distinctive facts; E2 registers E1's phone in another format and E3 (of
E1's district) the same; all redeem against one provider, so E2's and E3's redemptions are
flagged `shared_contact` and held. Then every GET route of the API and every page of the portals
that E2 and the provider can reach is read, and none may show a fact of another party: E2 sees
of its flag the rule, the weight and a sentence naming nobody. The bureau and a city reviewer see
the evidence whole; a district reviewer sees only its district's parties, and its queue counts
only what it lists.
"""

import re

import pytest

from service.risk.disclosure import PARTY_SENTENCES
from tests.factories import bearer
from tests.flows import invoice_body, line, make_world
from tests.routes import walk

E1_FACTS = {"name": "独孤科技甲一有限公司", "contact_phone": "+86 139-8765-4321",
            "contact_email": "Secret.E1@dugu-a1.cn", "bank_account": "6222 0211 8765 4320 19",
            "legal_representative": "独孤求败", "registered_address": "大连市沙河口区秘境路 77 号",
            "district": "沙河口区"}
P_FACTS = {"contact_phone": "0411-5555-7171", "contact_email": "ops@prov-hidden.cn",
           "bank_account": "6217 0000 5555 7171 00", "legal_representative": "令狐冲",
           "registered_address": "大连市甘井子区隐居路 9 号"}
E2_FACTS = {"name": "中山二号算力应用公司", "contact_phone": "13987654321",
            "bank_account": "6228 4800 1111 2222 33", "legal_representative": "岳不群",
            "registered_address": "大连市中山区人民路 2 号", "district": "中山区"}
E3_FACTS = {"name": "沙河口三号智能公司", "contact_phone": "(0086) 139 8765 4321",
            "district": "沙河口区"}


def _shared_flag(redemption: dict) -> dict:
    (flag,) = [f for f in redemption["flags"] if f["rule"] == "shared_contact"]
    return flag


def _secret_strings(facts: dict, *extra: str) -> set[str]:
    values = {v for k, v in facts.items() if k != "district"} | set(extra)
    return values | {v.replace(" ", "") for v in values}


def _redeem(api, world, enterprise: dict, gpu_fen: int) -> dict:
    api.voucher(enterprise["id"], 1_000_000)
    inv = api.ok("POST", "/v1/invoices", headers=world.prov,
                 json=invoice_body(enterprise["uscc"], [line("gpu", gpu_fen)]))
    api.ok("POST", f"/v1/invoices/{inv['id']}/payments", headers=world.prov,
           json={"amount_fen": gpu_fen, "paid_on": "2026-05-10"})
    key = api.enterprise_key(enterprise["id"])
    r = api.client.post("/v1/redemptions", headers=key, json={"invoice_id": inv["id"]})
    assert r.status_code == 201, r.text
    return {"key": key, "invoice": inv, "answer": r.json(), "text": r.text}


@pytest.fixture
def scene(api, today):
    today("2026-06-15")
    w = make_world(api, review_threshold=50)
    api.ok("PATCH", f"/v1/providers/{w.provider['id']}", json=P_FACTS)
    e1 = api.ok("PATCH", f"/v1/enterprises/{w.enterprise['id']}", json=E1_FACTS)
    e2 = api.enterprise(**E2_FACTS)
    e3 = api.enterprise(**E3_FACTS)
    first = _redeem(api, w, e1, 123_457)
    second = _redeem(api, w, e2, 234_567)
    third = _redeem(api, w, e3, 345_679)
    return {"w": w, "e1": e1, "e2": e2, "e3": e3, "first": first, "second": second,
            "third": third}


def _reviewer(api, level: str, district: str | None = None) -> dict[str, str]:
    body = {"role": "reviewer", "name": f"{level} {district or ''} reviewer",
            "review_level": level, **({"district": district} if district else {})}
    return bearer(api.ok("POST", "/v1/api-keys", json=body)["key"])


def test_a_party_sees_its_flag_without_evidence(scene, api):
    answer = scene["second"]["answer"]
    assert answer["status"] == "under_review"
    assert answer["risk_score"] == sum(f["weight"] for f in answer["flags"])
    assert _shared_flag(answer) == {
        "rule": "shared_contact", "weight": 50, "evidence": {},
        "message_zh": "与另一主体登记了相同的联系信息",
        "message_en": "Shares a registered contact with another party"}
    # every rule fired (all are on, by default) is shown as a party may see it
    assert all(f["evidence"] == {} and f["message_zh"] == PARTY_SENTENCES[f["rule"]][0]
               for f in answer["flags"])
    mine = api.ok("GET", f"/v1/redemptions/{answer['id']}", headers=scene["second"]["key"])
    assert mine["flags"] == answer["flags"]
    # the bureau sees the evidence whole: E1 by id, name and phone as registered
    full = _shared_flag(api.ok("GET", f"/v1/redemptions/{answer['id']}"))
    assert full["evidence"]["shared"] == [{
        "fact": "contact_phone", "with_type": "enterprise", "with_id": scene["e1"]["id"],
        "with_name": E1_FACTS["name"], "value": "13987654321",
        "other_value": E1_FACTS["contact_phone"]}]
    assert E1_FACTS["name"] in full["message_zh"]


def _get_routes(app) -> list[str]:
    return [path for path, route in walk(app.routes) if "GET" in route.methods]


def _fill(path: str, params: dict[str, str]) -> str | None:
    names = re.findall(r"{(\w+)}", path)
    if any(n not in params for n in names):
        return None
    for n in names:
        path = path.replace("{" + n + "}", params[n])
    return path


def _read_everything(api, app, headers: dict, params: dict[str, str]) -> list[tuple[str, str]]:
    """Every GET route of the API and the console the key can call, with the ids it knows."""
    seen = []
    for route in _get_routes(app):
        if route.startswith("/web"):
            continue
        path = _fill(route, params)
        if path is None:
            continue
        for query in ({}, {"year": "2026"}, {"format": "csv"}):
            r = api.client.get(path, headers=headers, params=query)
            seen.append((f"{path}?{query}", r.text))
    return seen


def _read_pages(api, app, headers: dict, prefix: str, params: dict) -> list[tuple[str, str]]:
    client = api.client
    seen = []
    for lang in ("zh", "en"):
        client.cookies.clear()
        client.cookies.set("cv_lang", lang)
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          client.get("/web/login").text).group(1)
        key = headers["Authorization"].removeprefix("Bearer ")
        signed = client.post("/web/login", data={"api_key": key, "csrf_token": token},
                             follow_redirects=False)
        assert signed.status_code == 303, signed.text
        for route in _get_routes(app):
            if not route.startswith(prefix):
                continue
            path = _fill(route, params)
            if path is not None:
                seen.append((f"{lang} {path}", client.get(path).text))
    client.cookies.clear()
    return seen


def _leaks(seen: list[tuple[str, str]], secrets: set[str]) -> list[tuple[str, str]]:
    return [(where, s) for where, text in seen for s in secrets if s and _shown(s, text)]


def _shown(secret: str, text: str) -> bool:
    """A short secret (a phone's or account's group of four digits) counts as a group of its
    own ("139-8765-4321", "****8765"), not inside a random token or id that happens to hold
    the same four characters (a CSRF token, a ULID: a few pages in a hundred runs did)."""
    if len(secret) > 4:
        return secret in text
    return re.search(rf"(?<![A-Za-z0-9_]){re.escape(secret)}(?![A-Za-z0-9_])", text) is not None


def test_no_route_or_page_shows_another_partys_facts(scene, api, client):
    app = client.app
    w, e1, e2 = scene["w"], scene["e1"], scene["e2"]
    second = scene["second"]
    e2_params = {"year": "2026", "redemption_id": second["answer"]["id"],
                 "invoice_id": second["invoice"]["id"], "enterprise_id": e2["id"],
                 "provider_id": w.provider["id"],
                 "voucher_id": second["answer"]["draws"][0]["voucher_id"]}
    e1_secrets = _secret_strings(E1_FACTS, e1["id"], e1["uscc"])
    p_secrets = _secret_strings(P_FACTS)
    e2_seen = [("POST /v1/redemptions", second["text"])]
    e2_seen += _read_everything(api, app, second["key"], e2_params)
    e2_seen += _read_pages(api, app, second["key"], "/web/enterprise", e2_params)
    assert len(e2_seen) > 20
    assert _leaks(e2_seen, e1_secrets | p_secrets) == []

    # the provider deals with all three enterprises but sees none of their registry facts
    e_secrets = (_secret_strings({k: v for k, v in E1_FACTS.items() if k != "name"})
                 | _secret_strings({k: v for k, v in E2_FACTS.items() if k != "name"})
                 | {"13987654321", "8765"})
    p_params = {**e2_params, "enterprise_id": e1["id"]}
    p_seen = _read_everything(api, app, w.prov, p_params)
    p_seen += _read_pages(api, app, w.prov, "/web/provider", p_params)
    assert len(p_seen) > 20
    assert _leaks(p_seen, e_secrets) == []


def test_reviewers_see_what_their_scope_covers(scene, api):
    e1, e2, e3 = scene["e1"], scene["e2"], scene["e3"]
    admin_queue = api.ok("GET", "/v1/reviews")
    assert (len(admin_queue["items"]), admin_queue["open"]) == (2, 2)
    city = api.ok("GET", "/v1/reviews", headers=_reviewer(api, "city"))
    assert city["open"] == 2
    assert {s["with_id"] for i in city["items"] for s in _shared_flag(i)["evidence"]["shared"]
            if s["with_type"] == "enterprise"} == {e1["id"], e2["id"]}

    zhongshan = _reviewer(api, "district", "中山区")
    queue = api.ok("GET", "/v1/reviews", headers=zhongshan)
    assert [i["enterprise_id"] for i in queue["items"]] == [e2["id"]]
    assert (queue["open"], queue["overdue"]) == (1, 0)
    assert api.ok("GET", "/v1/reviews", headers=zhongshan, params={"year": 2026})["open"] == 1
    flag = _shared_flag(queue["items"][0])
    assert flag["evidence"]["shared"] == [
        {"fact": "contact_phone", "with_type": "enterprise", "outside_scope": True}]
    assert flag["message_en"] == "Shares a registered contact with another party"
    one = api.ok("GET", f"/v1/reviews/{queue['items'][0]['id']}", headers=zhongshan)
    assert one["flags"] == queue["items"][0]["flags"]
    assert not _leaks([("queue", str(queue)), ("one", str(one))],
                      _secret_strings(E1_FACTS, e1["id"]) | _secret_strings(E3_FACTS, e3["id"]))

    shahekou = api.ok("GET", "/v1/reviews", headers=_reviewer(api, "district", "沙河口区"))
    assert [i["enterprise_id"] for i in shahekou["items"]] == [e3["id"]]
    assert shahekou["open"] == 1
    shared = _shared_flag(shahekou["items"][0])["evidence"]["shared"]
    # E1 is of its district and shown; E2 (中山区) is not
    assert {s.get("with_id") for s in shared} == {e1["id"], None}
    assert any(s.get("outside_scope") for s in shared)
