"""The provider portal (docs/web.md): its invoices, one invoice with its payments and reversals,
the CSV/XLSX upload of a month of invoices (service/web/upload.py reads the file), and the
statements of what was redeemed on its invoices. The 数电票 XML page is xml_upload.py."""

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.web import format as fmt
from service.web import i18n, upload
from service.web.apiclient import ApiError
from service.web.pages import (
    api_of,
    back,
    detail_page,
    filters,
    flash,
    flash_error,
    form_idem,
    form_of,
    lang_of,
    page_link,
    parse_yuan,
    render,
    require,
    translator,
)

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/provider")
async def provider_home(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    chosen = filters(request, "invoice_number")
    page = await api_of(request, ws).get("/v1/invoices", limit=50,
                                         invoice_number=chosen["invoice_number"] or None,
                                         cursor=request.query_params.get("cursor"))
    return render(request, "provider/home.html", ws, page=page, filters=chosen,
                  next_link=page_link(request, page["next_cursor"]))


@router.get("/provider/invoices/{invoice_id}")
async def provider_invoice(invoice_id: str, request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    return await detail_page(request, ws, f"/v1/invoices/{invoice_id}", "provider/invoice.html",
                             name="invoice", back_to="/web/provider")


@router.post("/provider/invoices/{invoice_id}/payments")
async def record_payment(invoice_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    amount = parse_yuan(form.get("amount_yuan"))
    if amount is None:
        flash(request, ws, "error", "input.amount")
    else:
        try:
            await api_of(request, ws).post(
                f"/v1/invoices/{invoice_id}/payments",
                {"amount_fen": amount, "paid_on": str(form.get("paid_on") or "")},
                idempotency_key=form_idem(form))
            flash(request, ws, "success", "pay.done", amount=fmt.yuan(amount))
        except ApiError as exc:
            flash_error(request, ws, exc)
    return back(f"/web/provider/invoices/{invoice_id}")


@router.post("/provider/invoices/{invoice_id}/reversals")
async def post_reversal(invoice_id: str, request: Request) -> RedirectResponse:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    amount = parse_yuan(form.get("amount_yuan"))
    if amount is None:
        flash(request, ws, "error", "input.amount")
    else:
        try:
            await api_of(request, ws).post(f"/v1/invoices/{invoice_id}/reversals", {
                "invoice_number": str(form.get("invoice_number") or "").strip(),
                "issued_on": str(form.get("issued_on") or ""), "amount_fen": amount,
                "reason": str(form.get("reason") or "").strip()},
                idempotency_key=form_idem(form))
            flash(request, ws, "success", "reverse.done", amount=fmt.yuan(amount))
        except ApiError as exc:
            flash_error(request, ws, exc)
    return back(f"/web/provider/invoices/{invoice_id}")


@router.get("/provider/upload")
def upload_page(request: Request) -> HTMLResponse:
    ws = require(request, "provider")
    return render(request, "provider/upload.html", ws, row_errors=None, columns=upload.REQUIRED,
                  optional=upload.OPTIONAL)


@router.get("/provider/upload/template.csv")
def upload_template(request: Request) -> Response:
    require(request, "provider")
    return Response(upload.template_csv(), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="invoices-template.csv"'})


@router.post("/provider/upload")
async def upload_invoices(request: Request) -> Response:
    ws = require(request, "provider")
    form = await form_of(request, ws)
    lang = lang_of(request)
    t = translator(lang)
    file = form.get("file")
    filename = getattr(file, "filename", "") or ""

    def failed(message: str, errors: list[upload.RowError] | None = None) -> HTMLResponse:
        return render(request, "provider/upload.html", ws, status_code=422, upload_error=message,
                      row_errors=errors, filename=filename, columns=upload.REQUIRED,
                      optional=upload.OPTIONAL)

    if not filename:
        return failed(t("upload.no_file"))
    if not filename.lower().endswith((".csv", ".xlsx")):
        return failed(t("upload.bad_type"))
    try:
        rows = upload.read_rows(filename, await file.read())
    except upload.UnreadableFile as exc:
        return failed(t("upload.unreadable", why=str(exc)))
    if not rows:
        return failed(t("upload.empty_file"))
    missing = upload.missing_columns(rows)
    if missing:
        return failed(t("upload.bad_header", cols=", ".join(missing)))
    parsed = upload.parse(rows, t)
    if parsed.errors:
        return failed(t("upload.failed", n=len(parsed.errors)), parsed.errors)
    try:
        result = await api_of(request, ws).post("/v1/invoices/batch",
                                                {"invoices": parsed.invoices})
    except ApiError as exc:
        if exc.status == 401:
            flash_error(request, ws, exc)
        errors = upload.api_errors_to_rows(parsed, exc.field_errors,
                                           i18n.error_text(lang, exc.code, exc.status))
        return failed(t("upload.failed", n=len(errors)), errors)
    items = result["items"]
    ws.flash("success", t("upload.saved", n=len(items),
                          amount=fmt.yuan(sum(i["total_fen"] for i in items))))
    return back("/web/provider")


@router.get("/provider/statements")
async def statements(request: Request) -> HTMLResponse:
    """Redemptions on this provider's invoices, grouped by settlement batch. Providers cannot
    read settlement batches themselves (they are bureau records), so the statement is built
    from the provider-scoped redemptions the API gives them."""
    ws = require(request, "provider")
    api = api_of(request, ws)
    rows, cursor = [], None
    while True:
        page = await api.get("/v1/redemptions", limit=500, cursor=cursor)
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor or len(rows) >= 5000:
            break
    invoices = {i["id"]: fmt.invoice_no(i)
                for i in (await api.get("/v1/invoices", limit=500))["items"]}
    return render(request, "provider/statements.html", ws, groups=by_settlement(rows),
                  invoices=invoices)


def by_settlement(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The redemptions grouped by settlement batch, the newest batch first and the unsettled
    last, with each group's count, net subsidy and the part paid to this provider."""
    groups: dict[str, dict[str, Any]] = {}
    for r in rows:
        key = r["settlement_id"] or ""
        group = groups.setdefault(key, {"settlement_id": r["settlement_id"], "count": 0,
                                        "net_fen": 0, "to_me_fen": 0, "statuses": set(),
                                        "items": []})
        group["count"] += 1
        group["net_fen"] += r["net_subsidy_fen"]
        if r["beneficiary_type"] == "provider":
            group["to_me_fen"] += r["net_subsidy_fen"]
        group["statuses"].add(r["status"])
        group["items"].append(r)
    return sorted(groups.values(), key=lambda g: (g["settlement_id"] is not None,
                                                  g["settlement_id"] or ""), reverse=True)
