"""The enterprise shares a normalised registry fact with the invoice's provider, or with another
enterprise that redeemed against the same provider this year (docs/risk.md). Its evidence
names the other party: only the bureau sees it (service/risk/disclosure.py)."""

from service.risk.facts import FACTS
from service.risk.rules.subject import Found, Subject

FACT_ZH = {"contact_phone": "联系电话", "contact_email": "联系邮箱", "bank_account": "银行账号",
           "legal_representative": "法定代表人", "registered_address": "注册地址"}
FACT_EN = {"contact_phone": "contact phone", "contact_email": "contact e-mail",
           "bank_account": "bank account", "legal_representative": "legal representative",
           "registered_address": "registered address"}


def check(c: Subject, s: dict) -> Found | None:
    enterprise, provider = c.enterprise, c.provider
    if enterprise is None:
        return None
    shared = []
    if provider is not None:
        for fact in FACTS:
            value = enterprise.norm.get(fact)
            if value and value == provider.norm.get(fact):
                shared.append({"fact": fact, "with_type": "provider", "with_id": provider.id,
                               "with_name": provider.name, "value": enterprise.raw.get(fact),
                               "other_value": provider.raw.get(fact)})
    clients = c.t.clients.get((c.year, c.p), {})
    for fact in FACTS:
        value = enterprise.norm.get(fact)
        if not value:
            continue
        for other_id in sorted(clients.get((fact, value), set()) - {c.e}):
            other = c.t.enterprises[other_id]
            shared.append({"fact": fact, "with_type": "enterprise", "with_id": other_id,
                           "with_name": other.name, "value": enterprise.raw.get(fact),
                           "other_value": other.raw.get(fact)})
    if not shared:
        return None
    return {"shared": shared}, lambda: explain(enterprise.name, shared)


def explain(name: str, shared: list[dict]) -> tuple[str, str]:
    first = shared[0]
    by_provider = first["with_type"] == "provider"
    zh_with = "本发票的服务商" if by_provider else "同样向该服务商兑付的企业"
    en_with = "the invoice's provider" if by_provider else \
        "another enterprise redeeming against the same provider,"
    more_zh = f"（共 {len(shared)} 处相同）" if len(shared) > 1 else ""
    more_en = f" ({len(shared)} shared facts in all)" if len(shared) > 1 else ""
    return (f"企业“{name}”与{zh_with}“{first['with_name']}”的"
            f"{FACT_ZH[first['fact']]}相同（{first['value']} / {first['other_value']}）"
            f"{more_zh}。",
            f"The enterprise '{name}' and {en_with} '{first['with_name']}' share "
            f"a {FACT_EN[first['fact']]} ({first['value']} / {first['other_value']})"
            f"{more_en}.")
