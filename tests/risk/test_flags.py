"""Risk flags (issue 14 items 1–3, docs/risk.md): each rule at its threshold and one step either
side, with its evidence; registry facts validated and normalised; flags never refuse."""

import pytest

from service.risk.policy import DEFAULT_RULES
from tests.conftest import SQLITE_ONLY
from tests.flows import invoice_body, line, make_world


def only(rule: str, **settings) -> dict:
    """risk_rules with every rule off but `rule` (with these settings)."""
    rules = {r: {"enabled": False} for r in DEFAULT_RULES}
    rules[rule] = {"enabled": True, **settings}
    return rules


def world_with(api, rule: str, review_threshold: int = 1000, **settings):
    return make_world(api, risk_rules=only(rule, **settings), review_threshold=review_threshold)


@pytest.fixture(autouse=True)
def _day(today):
    today("2026-06-15")


def bureau(api, redemption: dict) -> dict:
    """The redemption as the bureau reads it: only the bureau sees a flag's evidence
    (an enterprise's own answer is checked in tests/risk/test_disclosure.py)."""
    return api.ok("GET", f"/v1/redemptions/{redemption['id']}")


def rules_of(redemption: dict) -> list[str]:
    return [f["rule"] for f in redemption["flags"]]


# --- registry facts ---------------------------------------------------------------------------

def test_facts_validated_normalised_and_shown_to_the_bureau(api):
    e = api.enterprise(contact_phone="+86 138-0000-1234", contact_email="Boss@Example.CN",
                       bank_account="6222 0200 1234 5678", legal_representative="张 三",
                       registered_address="大连市高新区　软件园路１号", established_on="2025-03-01")
    assert (e["contact_phone"], e["contact_email"], e["bank_account"]) == (
        "+86 138-0000-1234", "Boss@Example.CN", "6222 0200 1234 5678")
    assert e["established_on"] == "2025-03-01"
    got = api.ok("GET", f"/v1/enterprises/{e['id']}")
    assert got["registered_address"] == "大连市高新区　软件园路１号"
    from sqlalchemy import text
    with api.engine.connect() as conn:
        row = conn.execute(text("SELECT contact_phone_norm, contact_email_norm, "
                                "bank_account_norm, legal_representative_norm, "
                                "registered_address_norm FROM enterprise WHERE id = :i"),
                           {"i": e["id"]}).one()
    assert tuple(row) == ("13800001234", "boss@example.cn", "6222020012345678", "张三",
                          "大连市高新区软件园路1号")
    p = api.provider(contact_phone="0411-88881234")
    patched = api.ok("PATCH", f"/v1/providers/{p['id']}", json={"bank_account": "12345678"})
    assert (patched["contact_phone"], patched["bank_account"]) == ("0411-88881234", "12345678")
    # the parties themselves cannot read the registry
    ent = api.enterprise_key(e["id"])
    assert api.client.get(f"/v1/enterprises/{e['id']}", headers=ent).status_code == 403


@pytest.mark.parametrize("field,value", [
    ("contact_phone", "call me"), ("contact_phone", "12345"), ("contact_email", "boss@"),
    ("contact_email", "no at sign"), ("bank_account", "6222-ABCD-1234"),
    ("bank_account", "1234567"), ("legal_representative", "   "), ("established_on", "2026-13-01"),
])
def test_bad_fact_is_422_naming_the_field(api, field, value):
    from tests.factories import uscc
    r = api.client.post("/v1/enterprises", headers=api.admin,
                        json={"uscc": uscc(), "name": "某公司", field: value})
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
    assert [e["field"] for e in r.json()["errors"]] == [field]
    p = api.provider()
    r = api.client.patch(f"/v1/providers/{p['id']}", headers=api.admin, json={field: value})
    assert r.status_code == 422 and [e["field"] for e in r.json()["errors"]] == [field]


# --- round_amount -----------------------------------------------------------------------------

@pytest.mark.parametrize("total,min_fen,flagged", [
    (11_000_000, 11_000_000, True),    # at the minimum, a multiple of 10,000 yuan
    (11_000_000, 11_000_001, False),   # one fen below the minimum
    (11_000_000, 10_999_999, True),
    (11_000_001, 10_000_000, False),   # one fen off the round number
    (10_999_999, 10_000_000, False),
])
def test_round_amount(api, total, min_fen, flagged):
    w = world_with(api, "round_amount", min_fen=min_fen, weight=7)
    w.voucher(10_000_000)
    inv = w.invoice([line("gpu", total)])
    r = bureau(api, w.redeem(inv["id"]))
    assert rules_of(r) == (["round_amount"] if flagged else [])
    assert r["risk_score"] == (7 if flagged else 0)
    if flagged:
        f = r["flags"][0]
        assert f["evidence"] == {"invoice_number": inv["invoice_number"], "total_fen": total,
                                 "min_fen": min_fen, "unit_fen": 1_000_000}
        assert "110,000.00" in f["message_zh"] and "110,000.00 yuan" in f["message_en"]
    assert r["status"] == "payable"
    assert rules_of(api.ok("GET", f"/v1/redemptions/{r['id']}")) == rules_of(r)


# --- new_entity -------------------------------------------------------------------------------

@pytest.mark.parametrize("established_on,flagged", [
    ("2025-07-05", False),  # 180 days before 2026-01-01: not fewer than 180
    ("2025-07-06", True),   # 179 days
    ("2025-07-04", False),  # 181 days
])
def test_new_entity(api, established_on, flagged):
    w = world_with(api, "new_entity", days=180)
    api.ok("PATCH", f"/v1/enterprises/{w.enterprise['id']}",
           json={"established_on": established_on})
    w.voucher(1_000_000)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 100_000)])["id"]))
    assert rules_of(r) == (["new_entity"] if flagged else [])
    if flagged:
        assert r["flags"][0]["evidence"] == {
            "established_on": "2025-07-06", "application_opens_on": "2026-01-01",
            "days_before": 179, "threshold_days": 180}


def test_new_entity_needs_the_fact(api):
    w = world_with(api, "new_entity")
    w.voucher(1_000_000)
    assert w.redeem(w.invoice([line("gpu", 100_000)])["id"])["flags"] == []


# --- burst ------------------------------------------------------------------------------------

@pytest.mark.parametrize("posted,flagged", [(3, False), (4, True), (2, False)])
def test_burst(api, posted, flagged):
    w = world_with(api, "burst", max_per_day=3)
    w.voucher(1_000_000)
    invoices = [w.invoice([line("gpu", 100_000)]) for _ in range(posted)]
    r = bureau(api, w.redeem(invoices[-1]["id"]))
    assert rules_of(r) == (["burst"] if flagged else [])
    if flagged:
        assert r["flags"][0]["evidence"] == {"posted_on": "2026-06-15", "invoices": 4,
                                             "max_per_day": 3}


def test_burst_counts_one_provider_and_one_enterprise(api):
    w = world_with(api, "burst", max_per_day=3)
    w.voucher(1_000_000)
    other = api.enterprise()
    for _ in range(3):
        api.ok("POST", "/v1/invoices", headers=w.prov,
               json=invoice_body(other["uscc"], [line("gpu", 100_000)]))
    inv = [w.invoice([line("gpu", 100_000)]) for _ in range(3)][-1]
    assert w.redeem(inv["id"])["flags"] == []


# --- provider_concentration --------------------------------------------------------------------

@pytest.mark.parametrize("second_gpu,flagged", [
    (100_000, False),  # 30,000 of 60,000: exactly 50 %, not more
    (100_010, True),   # 30,003 of 60,003
    (99_990, False),
])
def test_provider_concentration(api, second_gpu, flagged):
    w = world_with(api, "provider_concentration", share_bp=5000)
    w.voucher(1_000_000)
    first = w.redeem(w.invoice([line("gpu", 100_000)])["id"])
    assert rules_of(first) == ["provider_concentration"]  # one provider: 100 %
    p2 = api.provider()
    api.approve_provider(p2["id"])
    prov2 = api.provider_key(p2["id"])
    inv = api.ok("POST", "/v1/invoices", headers=prov2,
                 json=invoice_body(w.enterprise["uscc"], [line("gpu", second_gpu)]))
    api.ok("POST", f"/v1/invoices/{inv['id']}/payments", headers=prov2,
           json={"amount_fen": second_gpu, "paid_on": "2026-05-10"})
    r = bureau(api, w.redeem(inv["id"]))
    assert rules_of(r) == (["provider_concentration"] if flagged else [])
    if flagged:
        assert r["flags"][0]["evidence"] == {
            "provider_id": p2["id"], "with_provider_fen": 30_003,
            "enterprise_redeemed_fen": 60_003, "share_bp": 5000, "threshold_bp": 5000}


# --- near_cap_split ---------------------------------------------------------------------------

def split_world(api, **settings):
    w = make_world(api, enterprise_cap_fen=100_000, review_threshold=1000,
                   risk_rules=only("near_cap_split", **settings))
    w.voucher(100_000)
    return w


@pytest.mark.parametrize("second_gpu,flagged", [
    (150_000, True),   # 45,000 + 45,000 = 90 % of the 100,000 cap left
    (149_990, False),  # 45,000 + 44,997
    (150_010, True),
])
def test_near_cap_split_share(api, second_gpu, flagged):
    w = split_world(api)
    first = w.invoice([line("gpu", 150_000)], start="2026-04-01", end="2026-04-30")
    assert w.redeem(first["id"])["flags"] == []  # one invoice is not a split
    second = w.invoice([line("gpu", second_gpu)], start="2026-05-01", end="2026-05-30")
    r = bureau(api, w.redeem(second["id"]))
    assert rules_of(r) == (["near_cap_split"] if flagged else [])
    if flagged:
        ev = r["flags"][0]["evidence"]
        assert [i["invoice_id"] for i in ev["invoices"]] == [first["id"], second["id"]]
        assert (ev["together_fen"], ev["cap_left_fen"]) == (45_000 + second_gpu * 3 // 10,
                                                            100_000)


@pytest.mark.parametrize("days_apart,flagged", [(30, True), (31, False), (29, True)])
def test_near_cap_split_window(api, days_apart, flagged):
    from datetime import date, timedelta
    w = split_world(api, window_days=30)
    first = w.invoice([line("gpu", 150_000)], start="2026-04-01", end="2026-04-01")
    w.redeem(first["id"])
    day = (date(2026, 4, 1) + timedelta(days=days_apart)).isoformat()
    second = w.invoice([line("gpu", 150_000)], start=day, end=day)
    assert rules_of(w.redeem(second["id"])) == (["near_cap_split"] if flagged else [])


@pytest.mark.parametrize("each_below,flagged", [(45_001, True), (45_000, False)])
def test_near_cap_split_each_below(api, each_below, flagged):
    w = split_world(api, each_below_fen=each_below)
    w.redeem(w.invoice([line("gpu", 150_000)])["id"])
    assert rules_of(w.redeem(w.invoice([line("gpu", 150_000)])["id"])) == (
        ["near_cap_split"] if flagged else [])


# --- shared_contact ---------------------------------------------------------------------------

@pytest.mark.parametrize("provider_phone,flagged", [
    ("041188881234", True), ("0411 8888 1234", True), ("041188881235", False)])
def test_shared_contact_enterprise_and_provider(api, provider_phone, flagged):
    w = world_with(api, "shared_contact")
    api.ok("PATCH", f"/v1/enterprises/{w.enterprise['id']}",
           json={"contact_phone": "0411-8888-1234"})
    api.ok("PATCH", f"/v1/providers/{w.provider['id']}", json={"contact_phone": provider_phone})
    w.voucher(1_000_000)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 100_000)])["id"]))
    assert rules_of(r) == (["shared_contact"] if flagged else [])
    if flagged:
        assert r["flags"][0]["evidence"]["shared"] == [{
            "fact": "contact_phone", "with_type": "provider", "with_id": w.provider["id"],
            "with_name": w.provider["name"], "value": "0411-8888-1234",
            "other_value": provider_phone}]
        assert "联系电话" in r["flags"][0]["message_zh"]


def test_shared_contact_two_enterprises_one_provider(api):
    w = world_with(api, "shared_contact")
    api.ok("PATCH", f"/v1/enterprises/{w.enterprise['id']}",
           json={"contact_email": "Cfo@Shell.cn", "registered_address": "软件园路 1 号"})
    w.voucher(1_000_000)
    assert w.redeem(w.invoice([line("gpu", 100_000)])["id"])["flags"] == []
    other = api.enterprise(contact_email="cfo@shell.CN", registered_address="软件园路1号")
    unrelated = api.enterprise(contact_email="someone@else.cn")
    for e, expect in ((other, ["registered_address", "contact_email"]), (unrelated, [])):
        api.voucher(e["id"], 1_000_000)
        inv = api.ok("POST", "/v1/invoices", headers=w.prov,
                     json=invoice_body(e["uscc"], [line("gpu", 100_000)]))
        api.ok("POST", f"/v1/invoices/{inv['id']}/payments", headers=w.prov,
               json={"amount_fen": 100_000, "paid_on": "2026-05-10"})
        r = api.client.post("/v1/redemptions", headers=api.enterprise_key(e["id"]),
                            json={"invoice_id": inv["id"]})
        assert r.status_code == 201, r.text
        flags = bureau(api, r.json())["flags"]
        if expect:
            shared = flags[0]["evidence"]["shared"]
            assert sorted(s["fact"] for s in shared) == sorted(expect)
            assert {s["with_id"] for s in shared} == {w.enterprise["id"]}
        else:
            assert flags == []


# --- reversal_after_payout --------------------------------------------------------------------

@pytest.mark.parametrize("settle,flagged", [("none", False), ("approved", False),
                                            ("paid", True)])
def test_reversal_after_payout(api, settle, flagged):
    w = world_with(api, "reversal_after_payout")
    w.voucher(1_000_000)
    first = w.invoice([line("gpu", 100_000)])
    w.redeem(first["id"])
    if settle != "none":
        batch = w.settle(approve_and_pay=False)
        api.ok("POST", f"/v1/settlements/{batch['id']}/approve")
        if settle == "paid":
            api.ok("POST", f"/v1/settlements/{batch['id']}/pay",
                   json={"bank_reference": "BOC-1"})
    w.reverse(first["id"], 50_000)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 100_000)])["id"]))
    assert rules_of(r) == (["reversal_after_payout"] if flagged else [])
    if flagged:
        (c,) = r["flags"][0]["evidence"]["clawbacks"]
        assert (c["invoice_id"], c["amount_fen"]) == (first["id"], 15_000)


# --- unit_price_outlier -----------------------------------------------------------------------

BASE = [10_000 + 100 * i for i in range(-14, 15)]  # 29 lines; with one above all: median
# 10,050 and MAD 750, so the limit is 5 × 750 = 3,750 away: 13,800.


def outlier_world(api, **settings):
    w = world_with(api, "unit_price_outlier", **settings)
    w.voucher(1_000_000)
    w.invoice([line("gpu", p, unit="卡时") for p in BASE])
    return w


@pytest.mark.parametrize("price,flagged", [(13_800, False), (13_801, True), (13_799, False)])
def test_unit_price_outlier(api, price, flagged):
    w = outlier_world(api)
    r = bureau(api, w.redeem(w.invoice([line("gpu", price, unit="卡时")])["id"]))
    assert rules_of(r) == (["unit_price_outlier"] if flagged else [])
    if flagged:
        (ev,) = r["flags"][0]["evidence"]["lines"]
        assert (ev["unit_price_fen"], ev["median_fen"], ev["mad_fen"], ev["limit_fen"],
                ev["lines_in_group"], ev["deviation_fen"]) == (13_801, 10_050, 750, 3_750, 30,
                                                               3_751)


@pytest.mark.parametrize("min_lines,flagged", [(30, True), (31, False), (29, True)])
def test_unit_price_outlier_needs_enough_lines(api, min_lines, flagged):
    w = outlier_world(api, min_lines=min_lines)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 20_000, unit="卡时")])["id"]))
    assert rules_of(r) == (["unit_price_outlier"] if flagged else [])


def test_unit_price_stats_follow_new_lines_in_a_small_year(api):
    w = outlier_world(api, min_lines=31)
    first = w.redeem(w.invoice([line("gpu", 20_000, unit="卡时")])["id"])
    assert first["flags"] == []  # 30 lines: too few
    w.invoice([line("gpu", 10_000, unit="卡时")])  # the 31st line
    r = bureau(api, w.redeem(w.invoice([line("gpu", 20_000, unit="卡时")])["id"]))
    assert rules_of(r) == ["unit_price_outlier"]
    assert r["flags"][0]["evidence"]["lines"][0]["lines_in_group"] == 32


def test_other_unit_is_another_group(api):
    w = outlier_world(api)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 20_000, unit="台月")])["id"]))
    assert r["flags"] == []


# --- the score and the hold -------------------------------------------------------------------

@pytest.mark.parametrize("threshold,held", [(10, True), (11, False), (9, True)])
def test_held_at_the_review_threshold(api, threshold, held):
    w = world_with(api, "round_amount", review_threshold=threshold, weight=10)
    voucher = w.voucher(10_000_000)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 10_000_000)])["id"]))
    assert r["risk_score"] == 10
    assert r["status"] == ("under_review" if held else "payable")
    assert r["subsidy_fen"] == 3_000_000
    assert w.get_voucher(voucher["id"])["balance_fen"] == 7_000_000  # drawn either way
    listed = api.ok("GET", "/v1/reviews?status=open")["items"]
    assert [i["redemption_id"] for i in listed] == ([r["id"]] if held else [])


def test_default_rules_do_not_hold_an_ordinary_redemption(api):
    w = make_world(api)
    w.voucher(10_000_000)
    r = bureau(api, w.redeem(w.invoice([line("gpu", 10_000_000)])["id"]))
    assert rules_of(r) == ["provider_concentration", "round_amount"]
    assert (r["risk_score"], r["status"]) == (20, "payable")
    year = api.ok("GET", "/v1/years/2026")
    assert (year["review_threshold"], year["second_review_threshold"]) == (100, 150)
    assert year["risk_rules"]["unit_price_outlier"] == DEFAULT_RULES["unit_price_outlier"]


def test_flags_see_earlier_requests_of_the_same_batch(api, engine):
    from service.auth.principal import Principal
    from service.redemptions.redeem import RedeemRequest, redeem_group
    from service.uow import Write, run_write
    w = world_with(api, "provider_concentration", share_bp=5000)
    w.voucher(1_000_000)
    a = w.invoice([line("gpu", 100_000)])
    b = w.invoice([line("gpu", 100_000)])
    principal = Principal(key_id="k", name="e", role="enterprise",
                          enterprise_id=w.enterprise["id"])
    answers = run_write(engine, lambda s: redeem_group(s, [
        Write(principal=principal, group=redeem_group, args=RedeemRequest(i["id"]))
        for i in (a, b)]), principal=principal)
    assert [bureau(api, x)["flags"][0]["evidence"]["enterprise_redeemed_fen"]
            for x in answers] == [
        30_000, 60_000]


def test_risk_rules_change_after_the_first_voucher_is_audited(api):
    w = make_world(api)
    w.voucher(1_000_000)
    changed = api.ok("PATCH", "/v1/years/2026", json={
        "risk_rules": {"burst": {"max_per_day": 2, "weight": 35}}, "review_threshold": 35})
    assert changed["risk_rules"]["burst"] == {"enabled": True, "weight": 35, "max_per_day": 2}
    assert changed["risk_rules"]["round_amount"] == DEFAULT_RULES["round_amount"]
    assert changed["review_threshold"] == 35 and changed["policy_locked"] is True
    events = api.ok("GET", "/v1/audit-events?action=year.update")["items"]
    assert events[-1]["summary"]["changes"]["review_threshold"] == 35
    assert events[-1]["summary"]["before"]["review_threshold"] == 100
    assert events[-1]["summary"]["changes"]["risk_rules"]["burst"]["max_per_day"] == 2
    # applies to what comes after: three invoices in a day now hold
    invs = [w.invoice([line("gpu", 100_000)]) for _ in range(3)]
    assert w.redeem(invs[-1]["id"])["status"] == "under_review"
    # the money rules stay fixed
    r = api.client.patch("/v1/years/2026", headers=api.admin, json={"rate_bp": 2000})
    assert (r.status_code, r.json()["code"]) == (409, "policy_locked")


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("body", [
    {"risk_rules": {"no_such_rule": {"weight": 1}}},
    {"risk_rules": {"burst": {"max_per_day": -1}}},
    {"risk_rules": {"burst": {"weight": "10"}}},
    {"risk_rules": {"burst": {"enabled": "yes"}}},
    {"risk_rules": {"burst": {"k": 5}}},
    {"review_threshold": -1},
    {"risk_rules": []},
])
def test_bad_risk_policy_is_422(api, body):
    api.year(2026)
    r = api.client.patch("/v1/years/2026", headers=api.admin, json=body)
    assert r.status_code == 422, r.text
    assert r.json()["code"] == "validation_error"
