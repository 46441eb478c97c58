"""The provider portal's 数电票 XML page (issue 15): drop XML or ZIP files, see each file's
result — accepted with the category each line was mapped to, or the exact element and reason.

Several XML files are sent as one ZIP, so that the upload is all or nothing like the API's; the
page calls POST /v1/invoices/xml in-process as the signed-in provider, with the form's
Idempotency-Key (a resubmitted form replays the first answer)."""

import io
import re
import zipfile
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service.web import format as fmt
from service.web import i18n
from service.web.apiclient import ApiError
from service.web.pages import (
    api_of,
    flash_error,
    form_idem,
    form_of,
    lang_of,
    render,
    require,
    translator,
)

router = APIRouter(prefix="/web", include_in_schema=False)
PAGE = "provider/xml_upload.html"


def _zip(files: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, content in files:
            # A fixed timestamp: the same files make the same bytes (idempotent resubmission).
            z.writestr(zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0)), content,
                       zipfile.ZIP_DEFLATED)
    return out.getvalue()


@router.get("/provider/xml")
def xml_page(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    return render(request, PAGE, ws, results=None, form={})


@router.post("/provider/xml")
async def xml_upload(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    lang = lang_of(request)
    t = translator(lang)
    values = {k: str(form.get(k) or "").strip() for k in
              ("service_start", "service_end", "contract_number")}
    uploads = [f for f in form.getlist("files") if getattr(f, "filename", "")]

    def page(status: int, **context: Any) -> HTMLResponse:
        return render(request, PAGE, ws, status_code=status, form=values, **context)

    if not uploads:
        return page(422, upload_error=t("xml.no_file"), results=None)
    files = [(u.filename.replace("\\", "/").rsplit("/", 1)[-1], await u.read())
             for u in uploads]
    try:
        body, headers, names = _request_of(files, form_idem(form))
    except _Unsendable as exc:
        return page(422, upload_error=t(exc.key), results=None)
    response = await api_of(request, ws).send("POST", "/v1/invoices/xml", content=body,
                                              headers=headers,
                                              params={k: v for k, v in values.items() if v})
    try:
        answer = response.json()
    except ValueError:
        answer = {"code": "internal_error", "detail": response.text[:200]}
    if response.status_code == 401:
        flash_error(request, ws, ApiError(401, answer))
    if response.status_code >= 400:
        return page(422 if response.status_code < 500 else 500, refused=True,
                    **_refusal(lang, response.status_code, answer, names))
    items = answer["items"]
    results = [{"file": f["file"], "ok": True, "invoice": {**i, **f}, "errors": []}
               for i, f in zip(items, answer["files"])]
    return page(201, results=results, refused=False, warnings=answer.get("warnings") or [],
                saved=t("xml.saved", n=len(items), amount=fmt.yuan(
                    sum(i["total_fen"] for i, f in zip(items, answer["files"])
                        if not f.get("reversal")))))


class _Unsendable(Exception):
    """Files the API would not take as one upload; `key` is the page text saying why."""

    def __init__(self, key: str):
        self.key = key


def _request_of(files: list[tuple[str, bytes]],
                idem: str | None) -> tuple[bytes, dict[str, str], list[str] | None]:
    """The upload as one API request: (body, headers, the file names, unknown for a ZIP). One
    XML file goes as it is, one ZIP as it is, several XML files zipped together."""
    zips = [n for n, _ in files if n.lower().endswith(".zip")]
    others = [n for n, _ in files if not n.lower().endswith((".zip", ".xml"))]
    if others or (zips and len(files) > 1):
        raise _Unsendable("xml.bad_type")
    if zips:
        body, ctype, names = files[0][1], "application/zip", None
    elif len(files) == 1:
        body, ctype, names = files[0][1], "application/xml", [files[0][0]]
    else:
        names = [n for n, _ in files]
        if len(set(names)) != len(names):
            raise _Unsendable("xml.same_name")
        body, ctype = _zip(files), "application/zip"
    headers = {"Content-Type": ctype}
    if ctype == "application/xml":
        headers["Content-Disposition"] = f'attachment; filename="{names[0]}"'
    if idem:
        headers["Idempotency-Key"] = idem[:255]
    return body, headers, names


def _refusal(lang: str, status: int, answer: dict[str, Any],
             names: list[str] | None) -> dict[str, Any]:
    """The page's account of a refused upload: each file with the elements and reasons the API
    named in it, the problem in words, and its detail when no element was named."""
    errors = answer.get("errors") or []
    by_file: dict[str, list[dict[str, Any]]] = {}
    for e in errors:
        by_file.setdefault(str(e.get("file") or ""), []).append({
            "element": e.get("element") or e.get("field") or "",
            "code": e.get("code") or e.get("type") or answer.get("code"),
            "reason": i18n.error_text(lang, str(e.get("code") or e.get("type") or ""), status),
            "message": _message(lang, str(e.get("message") or ""))})
    listed = names or list(by_file)
    results = [{"file": n, "ok": n not in by_file, "errors": by_file.get(n, [])}
               for n in listed]
    results += [{"file": n, "ok": False, "errors": errs} for n, errs in by_file.items()
                if n not in listed]
    if not errors:
        results = []
    return {"results": results,
            "upload_error": i18n.translate(lang, "xml.refused",
                                           n=sum(1 for r in results if not r["ok"])),
            "problem": i18n.error_text(lang, str(answer.get("code")), status),
            "detail": answer.get("detail") if not errors else None}


# The API explains each problem in English; a Chinese page says the common ones in Chinese and
# otherwise relies on the code's sentence and the element it names.
_ZH_MESSAGES = ((re.compile(r" is missing\b"), "缺少该项"), (re.compile(r" is empty$"), "该项为空"),
                (re.compile(r" is not a date$"), "不是有效日期"),
                (re.compile(r"declares encoding (.+?), which cannot be read"),
                 "声明了无法识别的编码 {0}"),
                (re.compile(r"declares encoding (.+?), but its bytes are not GBK"),
                 "声明的编码 {0} 与文件内容不符"))


def _message(lang: str, message: str) -> str:
    if lang == "en":
        return message
    for pattern, zh in _ZH_MESSAGES:
        found = pattern.search(message)
        if found:
            return zh.format(*found.groups())
    return ""

