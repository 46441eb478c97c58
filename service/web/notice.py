"""The printable public notice (公示, docs/notice.md): `/public/notices/{id}`, with no sign-in,
in Chinese by default and English on the switch (the page's 中文 | English links, which set the
`cv_lang` cookie and come back here). It shows
what the public JSON answers (GET /v1/public/notices/{id}) and nothing more, and loads nothing
from outside the service."""

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service.web.apiclient import Api, ApiError
from service.web.pages import render

router = APIRouter(include_in_schema=False)


@router.get("/public/notices/{settlement_id}")
async def public_notice(settlement_id: str, request: Request) -> HTMLResponse:
    try:
        # No key: the public route, called in-process like every page calls the API.
        notice = await Api(request, None).get(f"/v1/public/notices/{settlement_id}")
    except ApiError as exc:
        return render(request, "public/notice.html", None, notice=None,
                      status_code=404 if exc.status in (404, 422) else exc.status)
    return render(request, "public/notice.html", None, notice=notice)
