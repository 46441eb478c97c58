"""An invoice line's unit price more than `k` median absolute deviations from the median of the
year's lines of its category and unit (docs/risk.md)."""

from service.kit import catalogue
from service.kit.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    outliers = []
    for line in c.t.lines.get(c.invoice.id, ()):
        st = c.t.stats.get((c.year, line.category, line.unit))
        if st is None or st.line_count < s["min_lines"]:
            continue
        scale = max(st.mad_fen, st.median_fen * s["mad_floor_bp"] // 10_000, 1)
        deviation = abs(line.unit_price_fen - st.median_fen)
        if deviation > s["k"] * scale:
            outliers.append({"line_no": line.line_no, "category": line.category,
                             "unit": line.unit, "description": line.description,
                             "unit_price_fen": line.unit_price_fen,
                             "median_fen": st.median_fen, "mad_fen": st.mad_fen,
                             "scale_fen": scale, "deviation_fen": deviation,
                             "limit_fen": s["k"] * scale, "k": s["k"],
                             "lines_in_group": st.line_count})
    if not outliers:
        return None
    return {"lines": outliers}, lambda: explain(outliers)


def explain(outliers: list[dict]) -> tuple[str, str]:
    o, more = outliers[0], len(outliers) - 1
    return catalogue.both(
        "rule.unit_price_outlier.says_more" if more else "rule.unit_price_outlier.says",
        line_no=o["line_no"], category=o["category"], unit=o["unit"],
        unit_price=yuan(o["unit_price_fen"]), lines=o["lines_in_group"],
        median=yuan(o["median_fen"]), deviation=yuan(o["deviation_fen"]), k=o["k"],
        scale=yuan(o["scale_fen"]), more=more)
