"""One provider accounts for more than `share_bp` of the enterprise's redeemed subsidy this
year, this redemption included (docs/risk.md)."""

from service.money import format_yuan as yuan
from service.risk.rules.subject import Found, Subject


def check(c: Subject, s: dict) -> Found | None:
    with_provider = c.t.pair_total.get((c.year, c.e, c.p), 0) + c.net
    total = c.t.enterprise_total.get((c.year, c.e), 0) + c.net
    if total <= 0 or with_provider * 10_000 <= s["share_bp"] * total:
        return None
    name, share = c.provider_name, with_provider * 100 // total
    return ({"provider_id": c.p, "with_provider_fen": with_provider,
             "enterprise_redeemed_fen": total, "share_bp": with_provider * 10_000 // total,
             "threshold_bp": s["share_bp"]},
            lambda: (f"该企业本年度已兑付补贴 {yuan(total)} 元中，{yuan(with_provider)} 元"
                     f"（{share}%）来自服务商“{name}”，超过 {s['share_bp'] // 100}%。",
                     f"Of the enterprise's {yuan(total)} yuan of redeemed subsidy this year, "
                     f"{yuan(with_provider)} yuan ({share}%) is with the provider '{name}': "
                     f"more than {s['share_bp'] // 100}%."))
