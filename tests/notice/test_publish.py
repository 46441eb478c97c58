"""公示 before payment (issue 24 §1): publish an approved batch, the window in working days on
the year's calendar, and pay refused before the window has passed or without a notice."""

import pytest

from tests.notice.helpers import two_enterprises


@pytest.fixture
def two(api, today):
    today("2026-09-29")  # a Tuesday, before the National Day holiday
    return two_enterprises(api, notice_working_days=5)


def _pay(api, batch_id):
    return api.client.post(f"/v1/settlements/{batch_id}/pay", headers=api.admin,
                           json={"bank_reference": "BOC-1"})


def test_publish_counts_working_days_on_the_year_calendar(two, api, today):
    api.ok("PUT", "/v1/years/2026/calendar",
           json={"holidays": [f"2026-10-0{d}" for d in range(1, 8)],
                 "workdays": ["2026-09-27", "2026-10-10"]})
    two.redeem_both()
    batch = two.approved_batch()
    assert batch["notice_ends_on"] is None
    published = api.ok("POST", f"/v1/settlements/{batch['id']}/publish")
    # Wednesday 30 September, then 1–7 October off, Thursday 8, Friday 9, Saturday 10 (调休),
    # Monday 12: five working days
    assert {k: published[k] for k in ("status", "published_on", "notice_starts_on",
                                       "notice_ends_on")} == {
        "status": "in_notice", "published_on": "2026-09-29", "notice_starts_on": "2026-09-30",
        "notice_ends_on": "2026-10-12"}
    assert published["total_fen"] == batch["total_fen"] == 900_000
    [event] = [e for e in api.ok("GET", "/v1/audit-events")["items"]
               if e["action"] == "settlement.publish"]
    assert event["summary"]["notice_ends_on"] == "2026-10-12"


def test_pay_is_refused_in_the_window_and_allowed_after(two, api, today):
    two.redeem_both()
    batch = two.published_batch()
    assert batch["notice_ends_on"] == "2026-10-06"  # no calendar: Mon–Fri only
    for day in ("2026-09-29", "2026-10-06"):
        today(day)
        r = _pay(api, batch["id"])
        assert (r.status_code, r.json()["code"]) == (409, "notice_period")
        assert r.json()["notice_ends_on"] == "2026-10-06"
    assert api.ok("GET", f"/v1/settlements/{batch['id']}")["status"] == "in_notice"
    assert api.ok("GET", "/v1/ledger/transfers", params={"kind": "payout"})["items"] == []
    today("2026-10-07")
    paid = api.ok("POST", f"/v1/settlements/{batch['id']}/pay", json={"bank_reference": "B-1"})
    assert (paid["status"], paid["total_fen"]) == ("paid", 900_000)
    assert paid["notice_ends_on"] == "2026-10-06"


def test_an_unpublished_batch_is_refused_when_the_year_asks_for_notice(two, api):
    two.redeem_both()
    batch = two.approved_batch()
    r = _pay(api, batch["id"])
    assert (r.status_code, r.json()["code"]) == (409, "notice_required")
    assert api.ok("GET", f"/v1/settlements/{batch['id']}")["status"] == "approved"


def test_publish_only_an_approved_batch(two, api):
    two.redeem_both()
    draft = api.ok("POST", "/v1/settlements", json={"year": 2026}, expect=201)
    r = api.client.post(f"/v1/settlements/{draft['id']}/publish", headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (409, "invalid_state")
    api.ok("POST", f"/v1/settlements/{draft['id']}/approve")
    api.ok("POST", f"/v1/settlements/{draft['id']}/publish")
    again = api.client.post(f"/v1/settlements/{draft['id']}/publish", headers=api.admin)
    assert (again.status_code, again.json()["code"]) == (409, "invalid_state")
    assert api.client.post(f"/v1/settlements/{draft['id']}/publish",
                           headers=api.auditor()).status_code == 403


def test_without_notice_days_the_flow_is_unchanged(api, today):
    today("2026-09-29")
    two = two_enterprises(api)
    two.redeem_both()
    batch = two.approved_batch()
    r = api.client.post(f"/v1/settlements/{batch['id']}/publish", headers=api.admin)
    assert (r.status_code, r.json()["code"]) == (409, "notice_not_used")
    paid = api.ok("POST", f"/v1/settlements/{batch['id']}/pay", json={"bank_reference": "B"})
    assert paid["status"] == "paid"
    assert (paid["published_on"], paid["notice_ends_on"]) == (None, None)


def test_line_ids_are_stable_and_distinct(two, api):
    two.redeem_both()
    batch = two.approved_batch()
    ids = [x["line_id"] for x in batch["lines"]]
    assert len(set(ids)) == 2 and all(i.startswith("sln_") for i in ids)
    assert [x["line_id"] for x in api.ok("GET", f"/v1/settlements/{batch['id']}")["lines"]] == ids
