"""One provider accounts for more than `share_bp` of the enterprise's redeemed subsidy this
year, this redemption included (docs/risk.md)."""

from service.kit import catalogue
from service.kit.money import format_yuan as yuan
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
            lambda: catalogue.both("rule.provider_concentration.says", total=yuan(total),
                                   with_provider=yuan(with_provider), share=share, provider=name,
                                   threshold=s["share_bp"] // 100))
