"""The working-day calendar (issue 24 §1): arithmetic across a holiday and a 调休 workday, and
the calendar route."""

from datetime import date

import pytest

from service.years.calendar import add_working_days, is_working_day

# 2026 National Day: 1–7 October off, Saturday 10 October worked instead (调休).
NATIONAL_DAY = [date(2026, 10, d) for d in range(1, 8)]
ADJUSTED = [date(2026, 10, 10)]


def test_plain_weeks_skip_the_weekend():
    # Friday 2026-06-12 + 1 → Monday 15th; + 5 → Friday 19th
    assert add_working_days(date(2026, 6, 12), 1) == date(2026, 6, 15)
    assert add_working_days(date(2026, 6, 12), 5) == date(2026, 6, 19)
    assert add_working_days(date(2026, 6, 13), 1) == date(2026, 6, 15)  # from a Saturday


def test_across_a_holiday_and_an_adjusted_workday():
    cal = {"holidays": NATIONAL_DAY, "workdays": ADJUSTED}
    # Wednesday 30 September: 1–7 October off, Thursday 8th and Friday 9th work, Saturday 10th
    # works (调休), then Monday 12th.
    assert add_working_days(date(2026, 9, 30), 1, **cal) == date(2026, 10, 8)
    assert add_working_days(date(2026, 9, 30), 3, **cal) == date(2026, 10, 10)
    assert add_working_days(date(2026, 9, 30), 5, **cal) == date(2026, 10, 13)
    # without the calendar the same count is a plain week
    assert add_working_days(date(2026, 9, 30), 5) == date(2026, 10, 7)
    assert is_working_day(date(2026, 10, 10), NATIONAL_DAY, ADJUSTED)
    assert not is_working_day(date(2026, 10, 1), NATIONAL_DAY, ADJUSTED)
    assert not is_working_day(date(2026, 10, 11), NATIONAL_DAY, ADJUSTED)


def test_dates_of_the_next_year_count_too():
    # a 2026 batch published at the end of the year, on 2026's calendar naming 2027 dates
    cal = {"holidays": [date(2027, 1, 1)], "workdays": [date(2027, 1, 3)]}
    assert add_working_days(date(2026, 12, 31), 1, **cal) == date(2027, 1, 3)
    assert add_working_days(date(2026, 12, 31), 2, **cal) == date(2027, 1, 4)


def test_zero_days_is_not_a_window():
    with pytest.raises(ValueError):
        add_working_days(date(2026, 6, 12), 0)


def test_policy_default_and_change(api):
    year = api.year(2026)
    assert year["notice_working_days"] == 0
    assert api.ok("PATCH", "/v1/years/2026", json={"notice_working_days": 5})[
        "notice_working_days"] == 5
    r = api.client.patch("/v1/years/2026", json={"notice_working_days": 61}, headers=api.admin)
    assert r.status_code == 422
    assert [e["field"] for e in r.json()["errors"]] == ["notice_working_days"]


def test_calendar_put_and_get(api):
    api.year(2026)
    assert api.ok("GET", "/v1/years/2026/calendar") == {"year": 2026, "holidays": [],
                                                         "workdays": []}
    body = {"holidays": ["2026-10-02", "2026-10-01", "2027-01-01"], "workdays": ["2026-10-10"]}
    saved = api.ok("PUT", "/v1/years/2026/calendar", json=body)
    assert saved == {"year": 2026, "holidays": ["2026-10-01", "2026-10-02", "2027-01-01"],
                     "workdays": ["2026-10-10"]}
    assert api.ok("GET", "/v1/years/2026/calendar", headers=api.auditor()) == saved
    [event] = [e for e in api.ok("GET", "/v1/audit-events")["items"]
               if e["action"] == "year.calendar"]
    assert event["object_id"] == "2026"


@pytest.mark.parametrize("body, field", [
    ({"holidays": ["2026-02-30"]}, "holidays.0"),
    ({"workdays": ["2026-10-10", "not a date"]}, "workdays.1"),
    ({"holidays": ["2026-10-10"], "workdays": ["2026-10-10"]}, "workdays"),
    ({"holiday": []}, "holiday"),
])
def test_invalid_calendar_is_422_naming_the_field(api, body, field):
    api.year(2026)
    r = api.client.put("/v1/years/2026/calendar", json=body, headers=api.admin)
    assert r.status_code == 422
    assert field in [e["field"] for e in r.json()["errors"]]
    assert api.ok("GET", "/v1/years/2026/calendar")["holidays"] == []


def test_calendar_access(api):
    api.year(2026)
    r = api.client.put("/v1/years/2026/calendar", json={}, headers=api.auditor())
    assert r.status_code == 403
    assert api.client.get("/v1/years/2026/calendar").status_code == 401
    assert api.client.get("/v1/years/2031/calendar", headers=api.admin).status_code == 404
