"""The chart series of the bureau's pages (docs/web.md): the dashboard's burn-down of the pool
against the even pace and the projection, money by month, the top parties and the categories;
the what-if page's curves and gain/loss buckets. Amounts stay in fen; the pages' scripts format
them as yuan."""

from datetime import date, timedelta

from service.kit import clock
from service.web.pages import translator


def cumulative(values: list[int]) -> list[int]:
    out, total = [], 0
    for v in values:
        total += v
        out.append(total)
    return out


def dashboard_charts(budget: dict, categories: list[dict], lang: str) -> dict:
    """Chart series in fen (the script formats them as yuan)."""
    t = translator(lang)
    year = budget["year"]
    months = budget["by_month"]
    pool = budget["pool_fen"]
    today = clock.today()
    last_month = 12 if today.year > year else (0 if today.year < year else today.month)
    redeemed = cumulative([m["redeemed_fen"] for m in months])
    days = (date(year, 12, 31) - date(year, 1, 1)).days + 1

    def month_end_days(m: int) -> int:
        end = date(year + 1, 1, 1) if m == 12 else date(year, m + 1, 1)
        return (end - date(year, 1, 1)).days

    remaining = [pool] + [pool - redeemed[i] if i < last_month else None for i in range(12)]
    target = [pool] + [pool - pool * month_end_days(m) // days for m in range(1, 13)]
    projected = [None] * 13
    if 0 < last_month < 12:
        projected[last_month] = remaining[last_month]
        projected[12] = pool - budget["projected_redeemed_fen"]
    return {
        "labels": {"remaining": t("dash.remaining"), "target": t("dash.target"),
                   "projected": t("dash.projected"), "issued": t("dash.issued"),
                   "redeemed": t("dash.redeemed"), "paid": t("dash.paid"),
                   "yuan": t("common.yuan"), "start": f"{year}-01-01"},
        "months": [m["month"] for m in months],
        "burndown": {"x": [f"{year}-01-01"] + [
                         (date(year, 1, 1) + timedelta(days=month_end_days(m) - 1)).isoformat()
                         for m in range(1, 13)],
                     "remaining": remaining, "target": target, "projected": projected},
        "monthly": {"issued": [m["issued_fen"] for m in months],
                    "redeemed": [m["redeemed_fen"] for m in months],
                    "paid": [m["paid_fen"] for m in months]},
        "top_enterprises": [{"name": e["name"], "value": e["redeemed_fen"]}
                            for e in budget["top_enterprises"]],
        "top_providers": [{"name": p["name"], "value": p["redeemed_fen"]}
                          for p in budget["top_providers"]],
        "categories": [{"name": t(f"cat.{c['category']}"), "value": c["redeemed_fen"]}
                       for c in categories if c["redeemed_fen"] > 0],
    }


def whatif_charts(answer: dict, lang: str) -> dict:
    """The what-if page's series: each scenario's cumulative subsidy by date beside its pool,
    and how many parties gain or lose by how much."""
    t = translator(lang)
    results = [answer["baseline"], *answer["scenarios"]]
    dates = sorted({p["date"] for r in results for p in r["curve"]})
    series = []
    for r in results:
        points = {p["date"]: p["cumulative_fen"] for p in r["curve"]}
        running, values = 0, []
        for d in dates:
            running = points.get(d, running)
            values.append(running)
        series.append({"name": t("whatif.actual") if r["name"] == "actual" else r["name"],
                       "values": values, "pool": r["pool_fen"]})
    buckets = ["lose_more_5", "lose_less_5", "no_change", "gain_less_5", "gain_more_5"]
    return {"dates": dates, "series": series,
            "buckets": {"names": [r["name"] for r in answer["scenarios"]],
                        "keys": [t(f"whatif.bucket.{b}") for b in buckets],
                        "values": [[r["buckets"][b] for r in answer["scenarios"]]
                                   for b in buckets]},
            "labels": {"pool": t("whatif.pool_line"), "yuan": t("common.yuan")}}
