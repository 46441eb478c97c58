"""Display helpers used by the templates: yuan, dates and times in Asia/Shanghai, percentages."""

from datetime import date, datetime
from typing import Any

from service import clock
from service.money import format_yuan


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
