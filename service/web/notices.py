"""The bureau's 公示 page (docs/notice.md): the batches waiting to be published, those in notice
with their windows, the objections with the lines they name, and (admins) the resolve form.
Publishing is on the batch's page (web/bureau.py); both read the JSON API in-process."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.web.apiclient import Api, ApiError
from service.web.pages import (
    BUREAU,
    api_of,
    back,
    flash,
    flash_error,
    form_idem,
    form_of,
    render,
    require,
    year_param,
)

router = APIRouter(prefix="/web", include_in_schema=False)


async def objections_of(api: Api, settlement_id: str) -> list[dict[str, Any]]:
    page = await api.get("/v1/objections", settlement_id=settlement_id, limit=500)
    return page["items"]


async def notice_counts(api: Api, year: int) -> dict[str, int]:
    """The dashboard's line: batches in notice, objections waiting for a decision."""
    batches = await api.get("/v1/settlements", status="in_notice", year=year, limit=500)
    waiting = await api.get("/v1/objections", status="received", limit=500)
    return {"in_notice": len(batches["items"]), "open_objections": len(waiting["items"])}


@router.get("/bureau/notice")
async def notice_page(request: Request) -> HTMLResponse:
    ws = require(request, *BUREAU)
    api = api_of(request, ws)
    year = year_param(request)
    to_publish = await api.get("/v1/settlements", status="approved", year=year, limit=500)
    in_notice = await api.get("/v1/settlements", status="in_notice", year=year, limit=500)
    waiting = await api.get("/v1/objections", status="received", limit=500)
    lines = {x["line_id"]: x for batch in in_notice["items"] for x in batch["lines"]}
    return render(request, "bureau/notice.html", ws, year=year,
                  to_publish=to_publish["items"], in_notice=in_notice["items"],
                  objections=waiting["items"], lines=lines)


@router.post("/bureau/objections/{objection_id}/resolve")
async def resolve(objection_id: str, request: Request) -> RedirectResponse:
    ws = require(request, *BUREAU)
    form = await form_of(request, ws)
    body = {"outcome": str(form.get("outcome") or ""),
            "reason": str(form.get("reason") or "").strip()}
    target = str(form.get("back") or "/web/bureau/notice")
    if not target.startswith("/web/bureau/"):
        target = "/web/bureau/notice"
    try:
        await api_of(request, ws).post(f"/v1/objections/{objection_id}/resolve", body,
                                       idempotency_key=form_idem(form))
        flash(request, ws, "success", f"notice.resolved_{body['outcome']}")
    except ApiError as exc:
        flash_error(request, ws, exc)
    return back(target)
