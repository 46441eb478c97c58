"""Display helpers used by the templates: yuan, dates and times in Asia/Shanghai, percentages."""

from datetime import date, datetime
from typing import Any

from service.kit import clock
from service.kit.money import format_yuan


def yuan(fen: Any) -> str:
    if fen is None or fen == "":
        return "—"
    return format_yuan(int(fen))


def when(value: Any) -> str:
    """An ISO timestamp from the API, shown as Asia/Shanghai local time."""
    if not value:
        return "—"
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.SHANGHAI)
    return moment.astimezone(clock.SHANGHAI).strftime("%Y-%m-%d %H:%M")


def day(value: Any) -> str:
    if not value:
        return "—"
    if isinstance(value, (date, datetime)):
        return value.isoformat()[:10]
    return str(value)[:10]


def percent_bp(bp: Any) -> str:
    if bp is None:
        return "—"
    bp = int(bp)
    return f"{bp // 100}.{bp % 100:02d}%"


def invoice_no(invoice: Any) -> str:
    """An invoice's number as printed on it: a legacy VAT invoice's 10/12-digit code, then its
    8-digit number; a fully digital invoice's 20-digit number alone."""
    get = invoice.get if isinstance(invoice, dict) else lambda k: getattr(invoice, k, None)
    code, number = get("invoice_code"), get("invoice_number")
    return f"{code} {number}" if code else str(number or "")


def ratio_bp(bp: Any) -> str:
    """A ratio kept in basis points (a Gini coefficient) as a decimal to three places."""
    if bp is None:
        return "—"
    thousandths = (int(bp) + 5) // 10
    return f"{thousandths // 1000}.{thousandths % 1000:03d}"
