"""The enterprise shares a normalised registry fact with the invoice's provider, or with another
enterprise that redeemed against the same provider this year (docs/risk.md). Its evidence
names the other party: only the bureau sees it (service/risk/disclosure.py)."""

from service.kit import catalogue
from service.risk.facts import FACTS
from service.risk.rules.subject import Found, Subject


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
    key = f"rule.shared_contact.says.{first['with_type']}" + ("_more" if len(shared) > 1 else "")
    zh, en = (catalogue.say(lang, key, enterprise=name, other=first["with_name"],
                            fact=catalogue.say(lang, f"rule.shared_contact.fact.{first['fact']}"),
                            value=first["value"], other_value=first["other_value"], n=len(shared))
              for lang in catalogue.LANGUAGES)
    return zh, en
