"""An invoice line's unit price more than `k` median absolute deviations from the median of the
year's lines of its category and unit (docs/risk.md)."""

from service.money import format_yuan as yuan
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
    o = outliers[0]
    more_zh = f"（另有 {len(outliers) - 1} 行）" if len(outliers) > 1 else ""
    more_en = f" ({len(outliers) - 1} more line(s))" if len(outliers) > 1 else ""
    return (f"发票第 {o['line_no']} 行（{o['category']}，单位“{o['unit']}”）单价 "
            f"{yuan(o['unit_price_fen'])} 元，偏离本年度同类 {o['lines_in_group']} 行的中位数 "
            f"{yuan(o['median_fen'])} 元达 {yuan(o['deviation_fen'])} 元，超过 {o['k']} 倍"
            f"中位数绝对偏差（{yuan(o['scale_fen'])} 元）{more_zh}。",
            f"Invoice line {o['line_no']} ({o['category']}, per '{o['unit']}') has a unit "
            f"price of {yuan(o['unit_price_fen'])} yuan, {yuan(o['deviation_fen'])} yuan "
            f"from the median {yuan(o['median_fen'])} yuan of the year's "
            f"{o['lines_in_group']} such lines: more than {o['k']} median absolute "
            f"deviations ({yuan(o['scale_fen'])} yuan){more_en}.")
