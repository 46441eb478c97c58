"""Read a month of invoices from CSV or XLSX into the batch API's shape, row by row.

One row per invoice line; rows sharing (invoice_code, invoice_number) form one invoice. Amounts
are in yuan with at most two decimals and become fen exactly (Decimal, never float). The rules
about invoices themselves (USCC, numbering, totals, duplicates, closed years) are not checked
here: the batch API checks them, all or nothing, and its errors are mapped back to row numbers.
"""

import csv
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from service.invoices.schemas import MAX_BATCH

CATEGORIES = ("gpu", "npu", "accelerator", "cpu", "storage", "network", "security", "other")
REQUIRED = ("invoice_number", "enterprise_uscc", "issued_on", "service_start", "service_end",
            "total", "tax", "category", "description", "quantity", "unit", "unit_price", "amount")
OPTIONAL = ("invoice_code", "contract_number")
INVOICE_FIELDS = ("enterprise_uscc", "issued_on", "service_start", "service_end",
                  "contract_number", "total", "tax")
ALIASES = {
    "发票号码": "invoice_number", "发票代码": "invoice_code",
    "购买方统一社会信用代码": "enterprise_uscc", "统一社会信用代码": "enterprise_uscc",
    "开票日期": "issued_on", "服务开始日期": "service_start", "服务结束日期": "service_end",
    "合同编号": "contract_number", "价税合计": "total", "税额": "tax", "类别": "category",
    "项目": "description", "数量": "quantity", "单位": "unit", "单价": "unit_price",
    "金额": "amount",
}
TEMPLATE_HEADER = (*REQUIRED[:5], "contract_number", "invoice_code", *REQUIRED[5:])
_MONEY = re.compile(r"^\d+(\.\d{1,2})?$")


@dataclass
class RowError:
    row: int
    message: str
    field: str | None = None


@dataclass
class Parsed:
    invoices: list[dict[str, Any]] = field(default_factory=list)
    # per invoice: the file row numbers of its lines, in order
    rows: list[list[int]] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


class UnreadableFile(Exception):
    pass


def read_rows(filename: str, content: bytes) -> list[tuple[int, dict[str, str]]]:
    """(row number as a spreadsheet shows it, {column: text}); the header is row 1."""
    name = filename.lower()
    if name.endswith(".csv"):
        try:
            text = content.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = content.decode("gb18030")  # Excel on Chinese Windows saves CSV as GBK
            except UnicodeDecodeError as exc:
                raise UnreadableFile("not UTF-8 or GB18030 text") from exc
        table = list(csv.reader(io.StringIO(text)))
    elif name.endswith(".xlsx"):
        from openpyxl import load_workbook

        try:
            sheet = load_workbook(io.BytesIO(content), read_only=True, data_only=True).active
            table = [[_cell(v) for v in row] for row in sheet.iter_rows(values_only=True)]
        except Exception as exc:
            raise UnreadableFile(str(exc)[:200] or type(exc).__name__) from exc
    else:
        raise ValueError("unsupported file type")
    if not table:
        return []
    header = [ALIASES.get(h.strip(), h.strip().lower()) for h in table[0]]
    out = []
    for number, values in enumerate(table[1:], start=2):
        if not any(str(v).strip() for v in values):
            continue
        out.append((number, {h: str(v).strip() for h, v in zip(header, values, strict=False) if h}))
    return out


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    return str(value)


def missing_columns(rows: list[tuple[int, dict[str, str]]]) -> list[str]:
    present = set(rows[0][1]) if rows else set()
    return [c for c in REQUIRED if c not in present]


def to_fen(text: str) -> int | None:
    cleaned = text.replace(",", "").replace("，", "").replace("¥", "").replace("￥", "").strip()
    if not _MONEY.match(cleaned):
        return None
    return int(Decimal(cleaned) * 100)


def _date(text: str) -> str | None:
    try:
        return date.fromisoformat(text.strip()[:10]).isoformat()
    except ValueError:
        return None


def parse(rows: list[tuple[int, dict[str, str]]], t: Callable[..., str]) -> Parsed:
    parsed = Parsed()
    by_key: dict[tuple[str, str], int] = {}
    first_row: dict[int, dict[str, Any]] = {}
    for number, row in rows:
        values, line, errs = _read_row(number, row, t)
        if errs:
            parsed.errors += errs
            continue
        key = (row.get("invoice_code", ""), row.get("invoice_number", ""))
        index = by_key.get(key)
        if index is None:
            index = by_key[key] = len(parsed.invoices)
            parsed.invoices.append({
                "invoice_number": key[1], "invoice_code": key[0] or None,
                "enterprise_uscc": values["enterprise_uscc"], "issued_on": values["issued_on"],
                "service_start": values["service_start"], "service_end": values["service_end"],
                "contract_number": values["contract_number"], "total_fen": values["total"],
                "tax_fen": values["tax"], "lines": []})
            parsed.rows.append([])
            first_row[index] = {"row": number, **values}
        else:
            first = first_row[index]
            for col in INVOICE_FIELDS:
                if values[col] != first[col]:
                    parsed.errors.append(RowError(number, t("upload.err.mismatch", col=col,
                                                            first=first["row"]), col))
        parsed.invoices[index]["lines"].append(line)
        parsed.rows[index].append(number)
    if len(parsed.invoices) > MAX_BATCH:
        parsed.errors.append(RowError(rows[-1][0], t("upload.err.too_many", n=MAX_BATCH)))
    if parsed.invoices and not parsed.errors:
        for invoice in parsed.invoices:
            if invoice["invoice_code"] is None:
                del invoice["invoice_code"]
            if invoice["contract_number"] is None:
                del invoice["contract_number"]
    return parsed


def _read_row(number: int, row: dict[str, str], t: Callable[..., str],
              ) -> tuple[dict[str, Any], dict[str, Any] | None, list[RowError]]:
    """One row's invoice values (dates, fen), its invoice line, and what is wrong with it."""
    errs: list[RowError] = []

    def err(col: str, key: str, **kw: Any) -> None:
        errs.append(RowError(number, t(key, col=col, **kw), col))

    values: dict[str, Any] = {}
    for col in REQUIRED:
        if not row.get(col):
            err(col, "upload.err.required")
    for col in ("issued_on", "service_start", "service_end"):
        if row.get(col):
            values[col] = _date(row[col])
            if values[col] is None:
                err(col, "upload.err.date")
    for col in ("total", "tax", "unit_price", "amount"):
        if row.get(col):
            values[col] = to_fen(row[col])
            if values[col] is None:
                err(col, "upload.err.money")
    quantity = None
    if row.get("quantity"):
        try:
            quantity = Decimal(row["quantity"].replace(",", ""))
            if not quantity.is_finite() or quantity < 0:
                raise InvalidOperation
        except InvalidOperation:
            err("quantity", "upload.err.number")
    category = row.get("category", "").strip().lower()
    if category and category not in CATEGORIES:
        err("category", "upload.err.category", allowed=", ".join(CATEGORIES))
    values["enterprise_uscc"] = row.get("enterprise_uscc", "").upper()
    values["contract_number"] = row.get("contract_number") or None
    if errs:
        return values, None, errs
    line = {"category": category, "description": row["description"],
            "quantity": int(quantity) if quantity == quantity.to_integral_value()
            else str(quantity),
            "unit": row["unit"], "unit_price_fen": values["unit_price"],
            "amount_fen": values["amount"]}
    return values, line, errs


# API field names back to the file's column names
_COLUMNS = {"total_fen": "total", "tax_fen": "tax", "unit_price_fen": "unit_price",
            "amount_fen": "amount"}
_ITEM = re.compile(r"^invoices(?:\[(\d+)\]|\.(\d+))\.?(.*)$")
_LINE = re.compile(r"^lines(?:\[(\d+)\]|\.(\d+))\.?(.*)$")


def api_errors_to_rows(parsed: Parsed, errors: list[dict[str, Any]],
                       fallback: str) -> list[RowError]:
    """Map the batch API's per-item errors (invoices[3].total_fen, invoices.3.lines.0.unit) to
    the file rows they came from; a single-invoice file has unprefixed fields."""
    out = []
    for e in errors or [{"field": None, "message": fallback}]:
        name = str(e.get("field") or "")
        index, rest = (0, name) if len(parsed.invoices) == 1 else (None, name)
        match = _ITEM.match(name)
        if match:
            index, rest = int(match.group(1) or match.group(2)), match.group(3)
        rows = parsed.rows[index] if index is not None and index < len(parsed.rows) else [None]
        row = rows[0]
        line = _LINE.match(rest)
        if line and index is not None:
            n = int(line.group(1) or line.group(2))
            row = rows[n] if n < len(rows) else rows[0]
            rest = line.group(3)
        column = _COLUMNS.get(rest, rest) if rest else None
        out.append(RowError(row or 0, str(e.get("message") or fallback), column))
    return sorted(out, key=lambda r: r.row)


def template_csv() -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(TEMPLATE_HEADER)
    writer.writerow(["26212000000000000001", "91210200MA0XXXXXXX", "2026-04-30", "2026-04-01",
                     "2026-04-30", "HT-2026-001", "", "105000.00", "5943.40", "gpu",
                     "GPU 算力服务", "1", "月", "100000.00", "100000.00"])
    writer.writerow(["26212000000000000001", "91210200MA0XXXXXXX", "2026-04-30", "2026-04-01",
                     "2026-04-30", "HT-2026-001", "", "105000.00", "5943.40", "storage",
                     "对象存储", "1", "月", "5000.00", "5000.00"])
    return "\ufeff" + buffer.getvalue()
