"""The bureau's policy what-if page (issue 13, docs/what-if.md): up to five scenarios built in
a form (prefilled with the year's policy), compared through POST /v1/years/{y}/scenarios/compare
side by side. The form is a GET (comparing writes nothing), so a comparison is a link."""

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from service.web.apiclient import ApiError
from service.web.charts import whatif_charts
from service.web.pages import (
    BUREAU,
    api_of,
    back,
    flash_error,
    get_or_none,
    lang_of,
    parse_yuan,
    relay,
    render,
    require,
    year_param,
)

router = APIRouter(prefix="/web", include_in_schema=False)

CATEGORIES = ("gpu", "npu", "accelerator", "cpu", "storage", "network", "security", "other")
MAX = 5


def _yuan_to_fen(text: str) -> int | None:
    return parse_yuan(text) if text.strip() else None


def _int(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def scenario_of(q: Any, n: int) -> dict | None:
    """Scenario n of the form, or None when its column is left empty."""
    p = f"s{n}_"
    name = (q.get(p + "name") or "").strip()
    if not name:
        return None
    overrides: dict[str, Any] = {}
    for field, parse in (("pool_fen", _yuan_to_fen), ("enterprise_cap_fen", _yuan_to_fen),
                         ("rate_bp", _int), ("invoice_growth_bp", _int)):
        raw = q.get(p + field) or ""
        value = parse(raw)
        if value is not None:
            overrides[field] = value
        elif raw.strip():
            overrides[field] = raw  # the API names it in its 422
    categories = q.getlist(p + "eligible_categories") if hasattr(q, "getlist") else []
    if categories:
        overrides["eligible_categories"] = categories
    table = {}
    for c in CATEGORIES:
        value = _int(q.get(f"{p}rate_{c}") or "")
        if value is not None:
            table[c] = value
    if table:
        overrides["category_rates_bp"] = table
    for field in ("settlement_mode", "eligible_from"):
        if q.get(p + field):
            overrides[field] = q.get(p + field)
    return {"name": name[:200], "overrides": overrides,
            "vouchers": "follow_cap" if q.get(p + "vouchers") == "follow_cap" else "as_issued",
            "include_unredeemed": q.get(p + "include_unredeemed") == "1"}


@router.get("/bureau/whatif")
async def whatif_page(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    year = year_param(request)
    q = request.query_params
    policy = await get_or_none(api, f"/v1/years/{year}")
    if policy is None:
        return render(request, "bureau/whatif.html", ws, year=year, policy=None,
                      columns=[], answer=None, charts=None, group_by="enterprise",
                      export_link=None, q=q)
    scenarios = [s for s in (scenario_of(q, n) for n in range(1, MAX + 1)) if s]
    group_by = q.get("group_by") if q.get("group_by") in (
        "enterprise", "district", "provider", "category", "month") else "enterprise"
    answer = None
    if scenarios and q.get("run"):
        try:
            answer = await api.post(f"/v1/years/{year}/scenarios/compare",
                                    {"scenarios": scenarios, "group_by": group_by})
        except ApiError as exc:
            flash_error(request, ws, exc)
            return back(f"/web/bureau/whatif?year={year}")
    columns = list(range(1, MAX + 1))
    export_link = f"/web/bureau/whatif/export?{urlencode(list(q.multi_items()))}" \
        if answer else None
    return render(request, "bureau/whatif.html", ws, year=year, policy=policy,
                      columns=columns, answer=answer, group_by=group_by, q=q,
                      categories=CATEGORIES, export_link=export_link,
                      charts=whatif_charts(answer, lang_of(request)) if answer else None)


@router.get("/bureau/whatif/export")
async def whatif_export(request: Request) -> Response:
    ws = require(request, *BUREAU)
    year = year_param(request)
    q = request.query_params
    scenarios = [s for s in (scenario_of(q, n) for n in range(1, MAX + 1)) if s]
    group_by = q.get("group_by") or "enterprise"
    try:
        upstream = await api_of(request, ws).call(
            "POST", f"/v1/years/{year}/scenarios/compare", params={"format": "xlsx"},
            json={"scenarios": scenarios, "group_by": group_by}, raw=True)
    except ApiError as exc:
        flash_error(request, ws, exc)
        return back(f"/web/bureau/whatif?year={year}")
    return relay(upstream)
