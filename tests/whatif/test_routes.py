"""Policy what-if (issue 13, docs/what-if.md): the replay of the year's real claims under other
rules, exact to the fen, and what it reports. Comparing writes nothing."""

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text

from service.whatif import compare as whatif
from tests.conftest import SQLITE_ONLY, row_counts
from tests.flows import line, make_world

COMPARE = "/v1/years/2026/scenarios/compare"
ACTUAL = {"name": "现行政策", "overrides": {}}


@pytest.fixture(autouse=True)
def fresh_cache():
    whatif.clear_caches()
    yield
    whatif.clear_caches()


@pytest.fixture
def world(api, today):
    today("2026-03-02")
    return make_world(api)


def audit_head(engine):
    with engine.connect() as conn:
        return tuple(conn.execute(text("SELECT last_seq, last_hash FROM audit_chain_head")).all())


def run(api, scenarios, headers=None, **body):
    return api.ok("POST", COMPARE, headers=headers,
                  json={"scenarios": scenarios, **body}, expect=200)


def by_key(result) -> dict[str, int]:
    return {g["key"]: g["scenario_fen"] for g in result["groups"]}


def actual_by_enterprise(engine, year=2026) -> dict[str, int]:
    with engine.connect() as conn:
        return {e: int(n) for e, n in conn.execute(text(
            "SELECT enterprise_id, SUM(subsidy_fen - clawed_back_fen) FROM redemption "
            "WHERE year = :y GROUP BY enterprise_id"), {"y": year})}


def test_actual_policy_reproduces_a_simple_year(world, api, engine):
    world.voucher(1_000_000)
    a = world.invoice([line("gpu", 1_000_000), line("storage", 50_000)])
    b = world.invoice([line("npu", 2_000_000)])
    world.redeem(a["id"])
    world.redeem(b["id"])
    before, head = row_counts(engine), audit_head(engine)
    answer = run(api, [ACTUAL])
    assert row_counts(engine) == before and audit_head(engine) == head
    base, same = answer["baseline"], answer["scenarios"][0]
    assert base["total_subsidy_fen"] == same["total_subsidy_fen"] == 300_000 + 600_000
    assert by_key(same) == actual_by_enterprise(engine) == {world.enterprise["id"]: 900_000}
    assert same["buckets"] == {"lose_more_5": 0, "lose_less_5": 0, "no_change": 1,
                               "gain_less_5": 0, "gain_more_5": 0}
    assert base["buckets"] == dict.fromkeys(same["buckets"], 0)
    assert [g["diff_fen"] for g in base["groups"]] == [0]


def other_enterprise(world, api):
    enterprise = api.enterprise(name="大连第二算力有限公司", district="甘井子区")
    return enterprise, api.enterprise_key(enterprise["id"])


def post_invoice(world, enterprise, lines_, *, paid=True, **fields):
    from tests.flows import invoice_body

    body = invoice_body(enterprise["uscc"], lines_, **fields)
    invoice = world.api.ok("POST", "/v1/invoices", headers=world.prov, json=body, expect=201)
    if paid:
        invoice = world.pay(invoice["id"], invoice["total_fen"])
    return invoice


def redeem_as(world, key, invoice_id):
    response = world.api.client.post("/v1/redemptions", headers=key,
                                     json={"invoice_id": invoice_id})
    assert response.status_code == 201, response.text
    return response.json()


def test_exact_on_a_year_with_reversals_clawbacks_and_a_cross_year_invoice(world, api, engine,
                                                                          today):
    b_ent, b_key = other_enterprise(world, api)
    world.voucher(5_000_000)
    api.voucher(b_ent["id"], 500_000)
    one = world.invoice([line("gpu", 1_000_000)])
    world.redeem(one["id"])  # 300_000
    world.reverse(one["id"], 200_000)  # before settlement: 60_000 back to the voucher
    two = world.invoice([line("gpu", 500_000)], paid=False)
    world.pay(two["id"], 200_000)
    today("2026-04-01")
    assert world.redeem(two["id"])["subsidy_fen"] == 60_000
    world.pay(two["id"], 300_000)
    assert world.redeem(two["id"])["subsidy_fen"] == 90_000
    cross = world.invoice([line("npu", 12_345_678)], start="2025-12-01", end="2026-01-31")
    assert world.redeem(cross["id"])["subsidy_fen"] == 12_345_678 * 3000 * 31 // (10000 * 62)
    big = post_invoice(world, b_ent, [line("gpu", 3_000_000)])
    assert redeem_as(world, b_key, big["id"])["subsidy_fen"] == 500_000
    today("2026-05-01")
    world.settle()
    world.reverse(two["id"], 100_000)  # after settlement: a clawback of 30_000
    world.reverse(big["id"], 1_500_000)  # 450_000 eligible left, 500_000 redeemed: 50_000 back
    today("2026-06-01")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM clawback")).scalar() == 2
    actual = actual_by_enterprise(engine)
    answer = run(api, [ACTUAL, {"name": "follow", "overrides": {}, "vouchers": "follow_cap"}])
    base, same, follow = answer["baseline"], *answer["scenarios"]
    assert by_key(base) == by_key(same) == actual
    assert base["total_subsidy_fen"] == same["total_subsidy_fen"] == sum(actual.values())
    assert same["redemptions_count"] == base["redemptions_count"] == 5
    assert same["buckets"]["no_change"] == 2
    # Vouchers following the cap: B's 3_000_000 invoice earns its full 30 % (its voucher of
    # 500_000 no longer limits it), then the reversal takes it down to 450_000.
    assert by_key(follow)[b_ent["id"]] == 450_000
    assert by_key(follow)[world.enterprise["id"]] == actual[world.enterprise["id"]]


def test_exact_on_the_demo_year(engine, api, today):
    from simulation import run_demo

    today("2026-03-10")
    run_demo(engine, seed=11, enterprises=20, providers=5, invoices=200)
    actual = actual_by_enterprise(engine)
    answer = run(api, [ACTUAL, {"name": "高比例", "overrides": {"rate_bp": 4000}}])
    base, same, higher = answer["baseline"], *answer["scenarios"]
    assert by_key(same) == by_key(base) == actual
    assert same["total_subsidy_fen"] == sum(actual.values())
    assert same["buckets"]["no_change"] == len(actual)
    assert higher["total_subsidy_fen"] >= same["total_subsidy_fen"]


@pytest.fixture
def three(world, api, today):
    """One enterprise, a voucher of 2_000_000 and three paid GPU invoices of 1_000_000 redeemed
    on 2 March, 3 April and 4 May: 300_000 each."""
    world.voucher(2_000_000)
    days = []
    for day in ("2026-03-02", "2026-04-03", "2026-05-04"):
        today(day)
        inv = world.invoice([line("gpu", 1_000_000)])
        world.redeem(inv["id"])
        days.append(day)
    today("2026-06-01")
    return days


def one(api, overrides, **fields):
    return run(api, [{"name": "方案", "overrides": overrides, **fields}])["scenarios"][0]


def test_rate_changes_and_buckets(three, api, world):
    lower, higher, slightly = run(api, [
        {"name": "20%", "overrides": {"rate_bp": 2000}},
        {"name": "50%", "overrides": {"rate_bp": 5000}},
        {"name": "31%", "overrides": {"rate_bp": 3100}}])["scenarios"]
    assert lower["total_subsidy_fen"] == 600_000
    assert higher["total_subsidy_fen"] == 1_500_000
    assert slightly["total_subsidy_fen"] == 930_000
    ent = world.enterprise["id"]
    assert lower["groups"] == [{"key": ent, "label": "大连算力应用有限公司", "baseline_fen": 900_000,
                                "scenario_fen": 600_000, "diff_fen": -300_000,
                                "diff_permille": -333}]
    assert lower["buckets"]["lose_more_5"] == 1
    assert higher["buckets"]["gain_more_5"] == 1
    assert slightly["buckets"]["gain_less_5"] == 1  # +3.3 %
    assert one(api, {"rate_bp": 2900})["buckets"]["lose_less_5"] == 1


def test_pool_binds(three, api):
    result = one(api, {"pool_fen": 350_000})
    assert result["total_subsidy_fen"] == 350_000
    assert result["pool_exhausted_on"] == "2026-04-03"
    # 4 April: 250_000 of 300_000 refused; 4 May: all 300_000
    assert (result["refused_count"], result["refused_fen"]) == (2, 550_000)
    assert result["redemptions_count"] == 2
    assert result["pool_use_bp"] == 10_000
    assert "2026-04-03" in result["summary_en"] and "2026-04-03" in result["summary_zh"]
    untouched = one(api, {"pool_fen": 900_000})
    assert (untouched["pool_exhausted_on"], untouched["refused_count"],
            untouched["refused_fen"]) == (None, 0, 0)


def test_cap_binds(three, api):
    result = one(api, {"enterprise_cap_fen": 400_000})
    assert result["total_subsidy_fen"] == 400_000
    assert result["enterprises_at_cap"] == 1
    assert result["refused_count"] == 0
    assert one(api, {})["enterprises_at_cap"] == 0


def test_negative_growth_and_growth(three, api):
    assert one(api, {"invoice_growth_bp": 4000})["total_subsidy_fen"] == 3 * 420_000
    assert one(api, {"invoice_growth_bp": -5000})["total_subsidy_fen"] == 3 * 150_000


def test_vouchers_as_issued_or_following_the_cap(world, api, today):
    world.voucher(100_000)
    inv = world.invoice([line("gpu", 1_000_000)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 100_000
    assert one(api, {})["total_subsidy_fen"] == 100_000
    assert one(api, {}, vouchers="follow_cap")["total_subsidy_fen"] == 300_000
    assert one(api, {"enterprise_cap_fen": 250_000},
               vouchers="follow_cap")["total_subsidy_fen"] == 250_000


def test_category_rates_and_eligible_categories(world, api):
    world.voucher(2_000_000)
    inv = world.invoice([line("gpu", 1_000_000), line("npu", 500_000), line("cpu", 200_000)])
    assert world.redeem(inv["id"])["subsidy_fen"] == 450_000
    table = one(api, {"category_rates_bp": {"npu": 5000, "gpu": 2000}})
    assert table["total_subsidy_fen"] == 200_000 + 250_000
    assert one(api, {"eligible_categories": ["gpu"]})["total_subsidy_fen"] == 300_000
    wider = one(api, {"eligible_categories": ["gpu", "npu", "cpu"]})
    assert wider["total_subsidy_fen"] == 510_000
    by_category = run(api, [{"name": "表", "overrides": {"category_rates_bp": {"npu": 5000}}}],
                      group_by="category")["scenarios"][0]
    assert {g["key"]: (g["baseline_fen"], g["scenario_fen"]) for g in by_category["groups"]} == {
        "gpu": (300_000, 300_000), "npu": (150_000, 250_000)}


def test_eligible_from(world, api):
    world.voucher(2_000_000)
    early = world.invoice([line("gpu", 1_000_000)], issued_on="2026-01-20",
                          start="2026-01-01", end="2026-01-31")
    late = world.invoice([line("gpu", 1_000_000)])
    world.redeem(early["id"])
    world.redeem(late["id"])
    result = one(api, {"eligible_from": "2026-02-01"})
    assert result["total_subsidy_fen"] == 300_000
    assert result["redemptions_count"] == 1
    assert "2026-02-01" in result["summary_en"] and "2025-01-01" in result["summary_en"]


def test_include_unredeemed(world, api, today):
    world.voucher(2_000_000)
    claimed = world.invoice([line("gpu", 1_000_000)])
    world.redeem(claimed["id"])
    today("2026-07-01")
    world.invoice([line("gpu", 500_000)])  # paid, never redeemed
    world.invoice([line("gpu", 400_000)], paid=False)  # never paid: nothing in reimbursement
    both = run(api, [{"name": "含未申领", "overrides": {}, "include_unredeemed": True},
                     {"name": "抵扣", "overrides": {"settlement_mode": "deduction"},
                      "include_unredeemed": True},
                     {"name": "只申领的", "overrides": {}}], group_by="month")["scenarios"]
    assert both[0]["total_subsidy_fen"] == 300_000 + 150_000
    assert both[1]["total_subsidy_fen"] == 300_000 + 150_000 + 120_000
    assert both[2]["total_subsidy_fen"] == 300_000
    assert {g["key"]: g["scenario_fen"] for g in both[0]["groups"]} == {
        "2026-03": 300_000, "2026-07": 150_000}
    assert both[0]["groups"][1]["diff_permille"] is None  # nothing in the baseline that month


def test_include_unredeemed_skips_an_unapproved_providers_invoice(world, api, today):
    """The refusal an unapproved provider's invoice meets (provider_not_approved) is read, not
    answered: the invoice is left out, never a 500 (found by Schemathesis, issue 22 item 6)."""
    world.voucher(2_000_000)
    world.invoice([line("gpu", 500_000)])  # paid, never redeemed
    api.ok("PUT", f"/v1/years/2026/approved-providers/{world.provider['id']}",
           json={"approved": False})
    result = run(api, [{"name": "含未申领", "overrides": {}, "include_unredeemed": True}])
    assert result["scenarios"][0]["total_subsidy_fen"] == 0


def test_concentration(api, world):
    enterprises = []
    for n in range(12):
        enterprise = api.enterprise(name=f"企业{n}", district="中山区")
        api.voucher(enterprise["id"], 5_000_000)
        inv = post_invoice(world, enterprise, [line("gpu", 100_000 * (n + 1))])
        redeem_as(world, api.enterprise_key(enterprise["id"]), inv["id"])
        enterprises.append(enterprise)
    result = run(api, [ACTUAL], group_by="district")
    totals = [30_000 * (n + 1) for n in range(12)]
    assert result["baseline"]["total_subsidy_fen"] == sum(totals)
    assert result["baseline"]["top10_share_bp"] == 10_000 * sum(totals[2:]) // sum(totals)
    ranked = sum(i * x for i, x in enumerate(totals, start=1))
    gini = 10_000 * (2 * ranked - 13 * sum(totals)) // (12 * sum(totals))
    assert result["baseline"]["gini_bp"] == result["scenarios"][0]["gini_bp"] == gini == 3055
    assert result["scenarios"][0]["groups"] == [{
        "key": "中山区", "label": None, "baseline_fen": sum(totals), "scenario_fen": sum(totals),
        "diff_fen": 0, "diff_permille": 0}]
    assert whatif.gini_bp([5, 5, 5]) == 0 and whatif.gini_bp([0, 0, 10]) == 6666


def test_summaries_name_old_and_new_values(three, api):
    result = one(api, {"rate_bp": 2500, "enterprise_cap_fen": 150_000_000})
    en, zh = result["summary_en"], result["summary_zh"]
    for text_ in (en, zh):
        assert "3000 bp" in text_ and "2500 bp" in text_
        assert "¥2,000,000.00" in text_ and "¥1,500,000.00" in text_  # the caps, in yuan
        assert "¥9,000.00" in text_ and "¥7,500.00" in text_  # the totals
        assert "-¥1,500.00" in text_  # the difference
    assert "rate_bp" in en and "enterprise_cap_fen" in en and "现行" not in en
    assert "补贴比例" in zh and "单个企业上限" in zh


def test_stored_scenarios_and_a_scenario_as_baseline(three, api):
    auditor = api.auditor()
    body = {"name": "收紧", "overrides": {"rate_bp": 2000, "category_rates_bp": {"npu": 2500}},
            "vouchers": "follow_cap"}
    before = audit_head(api.engine)
    created = api.ok("POST", "/v1/years/2026/scenarios", json=body, expect=201)
    assert audit_head(api.engine) != before  # audited
    assert {k: created[k] for k in ("year", "name", "overrides", "include_unredeemed",
                                    "vouchers")} == {
        "year": 2026, "name": "收紧", "overrides": body["overrides"],
        "include_unredeemed": False, "vouchers": "follow_cap"}
    assert api.ok("GET", f"/v1/years/2026/scenarios/{created['id']}", headers=auditor) == created
    assert api.ok("GET", "/v1/years/2026/scenarios", headers=auditor)["items"] == [created]
    second = api.ok("POST", "/v1/years/2026/scenarios", json=ACTUAL, expect=201)
    page = api.ok("GET", "/v1/years/2026/scenarios", params={"limit": 1})
    assert page["items"] == [created] and page["next_cursor"]
    rest = api.ok("GET", "/v1/years/2026/scenarios",
                  params={"limit": 1, "cursor": page["next_cursor"]})
    assert rest == {"items": [second], "next_cursor": None}
    response = api.client.post("/v1/years/2026/scenarios", headers=auditor, json=body)
    assert response.status_code == 403
    for path in ("/v1/years/2026/scenarios/scn_nope", f"/v1/years/2027/scenarios/{created['id']}"):
        assert api.client.get(path, headers=api.admin).status_code == 404

    answer = run(api, [created["id"], ACTUAL], headers=auditor, baseline=created["id"])
    assert answer["baseline"]["name"] == "收紧"
    assert answer["baseline"]["total_subsidy_fen"] == 600_000
    assert answer["scenarios"][0]["total_subsidy_fen"] == 600_000
    assert answer["scenarios"][1]["total_subsidy_fen"] == 900_000
    assert answer["scenarios"][1]["groups"][0]["diff_permille"] == 500
    missing = api.client.post(COMPARE, headers=api.admin, json={"scenarios": ["scn_nope"]})
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


@SQLITE_ONLY  # validation refuses these before any database work
@pytest.mark.parametrize("body, field", [
    ({"scenarios": [{"name": "x", "overrides": {"rate_bp": 10_001}}]}, "rate_bp"),
    ({"scenarios": [{"name": "x", "overrides": {"enterprise_cap_fen": -1}}]},
     "enterprise_cap_fen"),
    ({"scenarios": [{"name": "x", "overrides": {"pool_fen": -5}}]}, "pool_fen"),
    ({"scenarios": [{"name": "x", "overrides": {"category_rates_bp": {"quantum": 100}}}]},
     "category_rates_bp"),
    ({"scenarios": [{"name": "x", "overrides": {"category_rates_bp": {"gpu": 20_000}}}]},
     "category_rates_bp.gpu"),
    ({"scenarios": [{"name": "x", "overrides": {"eligible_categories": ["gpu", "quantum"]}}]},
     "eligible_categories"),
    ({"scenarios": [{"name": "x", "overrides": {"rate_bp": "3000"}}]}, "rate_bp"),
    ({"scenarios": [ACTUAL] * 6}, "scenarios"),
    ({"scenarios": []}, "scenarios"),
    ({"scenarios": [ACTUAL], "group_by": "planet"}, "group_by"),
])
def test_bad_input_is_a_422_naming_the_field(world, api, engine, body, field):
    before = row_counts(engine)
    response = api.client.post(COMPARE, headers=api.admin, json=body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert problem["code"] == "validation_error"
    assert any(field in e["field"] for e in problem["errors"]), problem
    if len(body["scenarios"]) == 1 and field != "group_by":  # the same rules when storing
        stored = api.client.post("/v1/years/2026/scenarios", headers=api.admin,
                                 json=body["scenarios"][0])
        assert stored.status_code == 422
        assert any(field in e["field"] for e in stored.json()["errors"])
    assert row_counts(engine) == before


def test_a_year_that_does_not_exist_is_404(world, api):
    for response in (api.client.post("/v1/years/2031/scenarios/compare", headers=api.admin,
                                     json={"scenarios": [ACTUAL]}),
                     api.client.post("/v1/years/2031/scenarios", headers=api.admin,
                                     json=ACTUAL),
                     api.client.get("/v1/years/2031/scenarios", headers=api.admin)):
        assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_roles(three, api, world):
    assert api.client.post(COMPARE, headers=world.ent,
                           json={"scenarios": [ACTUAL]}).status_code == 403
    assert api.client.post(COMPARE, headers=world.prov,
                           json={"scenarios": [ACTUAL]}).status_code == 403
    assert api.client.post(COMPARE, json={"scenarios": [ACTUAL]},
                           headers={"Authorization": "Bearer nope"}).status_code == 401


def test_exports(three, api, world):
    body = {"scenarios": [{"name": "20%", "overrides": {"rate_bp": 2000}}]}
    xlsx = api.client.post(COMPARE + "?format=xlsx", headers=api.admin, json=body)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"] == \
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    book = load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["parameters", "summary", "groups", "buckets", "curve"]
    params = {row[0]: row[1:] for row in book["parameters"].iter_rows(values_only=True)
              if row[0]}
    assert params["parameter"] == ("actual", "20%")
    assert params["rate_bp"] == (3000, 2000)
    answer = run(api, body["scenarios"])
    assert params["data_version"][0] == answer["data_version"]
    assert params["audit_head_hash"][0] == answer["audit_head_hash"] == audit_head(
        api.engine)[0][1]
    groups = api.client.post(COMPARE + "?format=csv&view=groups", headers=api.admin, json=body)
    assert groups.status_code == 200 and groups.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(groups.content.decode("utf-8-sig"))))
    ent = world.enterprise["id"]
    assert rows == [["scenario", "enterprise", "label", "baseline_fen", "scenario_fen",
                     "diff_fen", "diff_permille"],
                    ["actual", ent, "大连算力应用有限公司", "900000", "900000", "0", "0"],
                    ["20%", ent, "大连算力应用有限公司", "900000", "600000", "-300000", "-333"]]
    bad = api.client.post(COMPARE + "?format=pdf", headers=api.admin, json=body)
    assert bad.status_code == 422


def test_cached_result_goes_stale_with_new_data(three, api, world, today):
    body = [{"name": "20%", "overrides": {"rate_bp": 2000}}]
    first = api.ok("POST", COMPARE, json={"scenarios": body})
    again = api.ok("POST", COMPARE, json={"scenarios": body})
    assert (first["cached"], again["cached"]) == (False, True)
    assert again["data_version"] == first["data_version"]
    inv = world.invoice([line("gpu", 100_000)], paid=False)
    after_invoice = api.ok("POST", COMPARE, json={"scenarios": body})
    assert after_invoice["data_version"] != first["data_version"]
    world.pay(inv["id"], 100_000)
    after_payment = api.ok("POST", COMPARE, json={"scenarios": body})
    assert after_payment["data_version"] != after_invoice["data_version"]
    assert not after_payment["cached"]
    world.redeem(inv["id"])
    after_redemption = api.ok("POST", COMPARE, json={"scenarios": body})
    assert after_redemption["scenarios"][0]["total_subsidy_fen"] == 620_000
    assert after_redemption["baseline"]["total_subsidy_fen"] == 930_000
    world.reverse(inv["id"], 50_000)
    after_reversal = api.ok("POST", COMPARE, json={"scenarios": body})
    assert after_reversal["data_version"] != after_redemption["data_version"]
    assert after_reversal["scenarios"][0]["total_subsidy_fen"] == 610_000
    assert after_reversal["baseline"]["total_subsidy_fen"] == 915_000


def test_exact_after_a_mid_year_reclaim_and_a_revocation(world, api, engine, today):
    kept = world.voucher(1_000_000)
    first = world.invoice([line("gpu", 1_000_000)])
    world.redeem(first["id"])  # 300_000: 700_000 left, 30 % used
    today("2026-06-20")
    applied = api.ok("POST", "/v1/years/2026/reclaim", json={
        "issued_before": "2026-07-01", "max_used_bp": 5000, "reclaim_bp": 5000, "apply": True})
    assert applied["reclaimed_fen"] == 350_000
    other = world.voucher(100_000)
    today("2026-07-01")
    api.ok("POST", f"/v1/vouchers/{other['id']}/revoke", json={"reason": "项目终止"})
    big = world.invoice([line("gpu", 3_000_000)])
    assert world.redeem(big["id"])["subsidy_fen"] == 350_000  # what the reclaim left
    assert world.get_voucher(kept["id"])["balance_fen"] == 0
    answer = run(api, [ACTUAL, {"name": "follow", "overrides": {}, "vouchers": "follow_cap"}])
    assert by_key(answer["scenarios"][0]) == actual_by_enterprise(engine) == {
        world.enterprise["id"]: 650_000}
    assert answer["scenarios"][1]["total_subsidy_fen"] == 300_000 + 900_000


def test_a_year_without_claims_and_a_stored_baseline_with_other_vouchers(world, api):
    empty = run(api, [{"name": "x", "overrides": {"rate_bp": 1000}}])
    for result in (empty["baseline"], empty["scenarios"][0]):
        assert (result["total_subsidy_fen"], result["redemptions_count"], result["groups"],
                result["gini_bp"], result["top10_share_bp"]) == (0, 0, [], 0, 0)
    stored = api.ok("POST", "/v1/years/2026/scenarios", expect=201,
                    json={"name": "随上限", "overrides": {}, "vouchers": "follow_cap"})
    answer = run(api, [ACTUAL], baseline=stored["id"])
    assert "follow_cap" in answer["scenarios"][0]["summary_en"]
    assert "as_issued" in answer["scenarios"][0]["summary_en"]


def test_exact_when_redemptions_name_their_voucher(world, api, engine):
    early = world.voucher(200_000, valid_until="2026-12-31")
    late = world.voucher(1_000_000, valid_until="2027-01-31")
    one = world.invoice([line("gpu", 1_000_000)])
    assert world.redeem(one["id"], late["id"])["subsidy_fen"] == 300_000  # named, not first
    two = world.invoice([line("gpu", 1_000_000)])
    assert world.redeem(two["id"], early["id"])["subsidy_fen"] == 200_000  # named, too small
    three = world.invoice([line("gpu", 100_000)])
    assert world.redeem(three["id"])["draws"][0]["voucher_id"] == late["id"]  # early is empty
    answer = run(api, [ACTUAL, {"name": "50%", "overrides": {"rate_bp": 5000}}])
    assert by_key(answer["scenarios"][0]) == actual_by_enterprise(engine) == {
        world.enterprise["id"]: 530_000}
    # at 50 %: one draws 500_000 on the late voucher, two is held to the early one (200_000),
    # three takes 50_000 from the late voucher
    assert answer["scenarios"][1]["total_subsidy_fen"] == 500_000 + 200_000 + 50_000


def test_exact_with_held_cleared_and_rejected_redemptions(api, engine, today):
    """Risk review (issue 14): a held redemption drew its voucher; a rejected one gave the draws
    back at the moment of the rejection; a cleared one stands. The replay of the actual policy
    reproduces what is left, per enterprise, to the fen."""
    from service.risk.policy import DEFAULT_RULES
    today("2026-03-02")
    rules = {r: {"enabled": False} for r in DEFAULT_RULES}
    rules["round_amount"] = {"enabled": True, "weight": 10}
    w = make_world(api, risk_rules=rules, review_threshold=10, second_review_threshold=50)
    w.voucher(20_000_000)
    held = [w.redeem(w.invoice([line("gpu", 10_000_000)])["id"]) for _ in range(3)]
    assert [r["status"] for r in held] == ["under_review"] * 3
    normal = w.redeem(w.invoice([line("gpu", 1_234_500)])["id"])
    assert normal["status"] != "under_review"
    queue = {i["redemption_id"]: i["id"] for i in api.ok("GET", "/v1/reviews")["items"]}
    api.ok("POST", f"/v1/reviews/{queue[held[0]['id']]}/reject", json={"reason": "确属拆分"})
    api.ok("POST", f"/v1/reviews/{queue[held[1]['id']]}/clear", json={"reason": "核实无误"})
    # the draws the rejection gave back are spent again afterwards
    again = w.redeem(w.invoice([line("gpu", 2_222_200)])["id"])
    assert again["subsidy_fen"] == 666_660
    answer = run(api, [ACTUAL])
    same = answer["scenarios"][0]
    assert by_key(same) == actual_by_enterprise(engine) == {
        w.enterprise["id"]: 3_000_000 * 2 + 370_350 + 666_660}
    assert same["total_subsidy_fen"] == answer["baseline"]["total_subsidy_fen"] == 7_037_010


def test_holds_are_not_claims_and_a_captured_hold_replays_as_its_redemption(api, today):
    """docs/holds.md: a pending hold is no claim; a captured one is the redemption it became."""
    today("2026-06-15")
    w = make_world(api, settlement_mode="deduction")
    voucher = w.voucher(1_000_000)

    def hold(amount: int) -> dict:
        return api.ok("POST", "/v1/holds", headers=w.prov, expect=201, json={
            "voucher_code": voucher["code"], "enterprise_uscc": w.enterprise["uscc"],
            "year": 2026, "service_start": "2026-04-01", "service_end": "2026-04-30",
            "lines": [{"category": "gpu", "amount_fen": amount}]})

    hold(500_000)  # 150_000, pending: no claim
    captured = hold(1_000_000)  # 300_000 held, 200_000 captured by a smaller invoice
    invoice = w.invoice([line("gpu", 666_667)])
    got = api.ok("POST", f"/v1/holds/{captured['id']}/capture", headers=w.prov, expect=201,
                 json={"invoice_id": invoice["id"]})
    assert got["redemption"]["subsidy_fen"] == 200_000
    same = run(api, [ACTUAL])["scenarios"][0]
    assert same["total_subsidy_fen"] == 200_000
    assert by_key(same) == {w.enterprise["id"]: 200_000}
