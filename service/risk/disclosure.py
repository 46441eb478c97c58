"""What of a risk flag each reader may see (docs/risk.md, "Who sees a flag's evidence").

A flag's evidence and sentences name other parties and their registry facts (a shared phone, the
other enterprise's name, a bank account). Only the bureau sees registry facts, so:

- the bureau (admin, auditor) sees every flag whole;
- a reviewer sees a flag whole when its scope covers every party the flag names; a district
  reviewer's shared-contact evidence keeps only the parties of its district (and the provider,
  which is named by the review itself); another district's enterprise becomes an anonymous
  entry, and the sentences become the party-safe one;
- an enterprise or a provider sees of each flag its rule, its weight and a sentence that names
  no other party and none of their facts — never the evidence.

Every answer that carries flags (a redemption's create, list and get; a review's list, get and
decision) goes through `visible_flags`, so no route can show more than this.
"""

from collections.abc import Iterable, Sequence

from sqlalchemy import select
from sqlmodel import Session

from service.kit import catalogue
from service.auth.principal import Principal
from service.registry.models import Enterprise
from service.risk.rules import CHECKS
from service.registry.access import is_district_reviewer

# The sentence a party reads: what kind of signal, never whose or which facts (the catalogue's
# "rule.<rule>.party"; "rule.party" for a rule without one).
PARTY_SENTENCES: dict[str, tuple[str, str]] = {
    rule: catalogue.both(f"rule.{rule}.party") for rule, _check in CHECKS}
_FALLBACK = catalogue.both("rule.party")


def party_view(flag: dict) -> dict:
    """A flag as an enterprise or provider sees it."""
    zh, en = PARTY_SENTENCES.get(flag["rule"], _FALLBACK)
    return {"rule": flag["rule"], "weight": flag["weight"], "evidence": {},
            "message_zh": zh, "message_en": en}


def visible_flags(session: Session | None, principal: Principal,
                  flags: Sequence[dict]) -> list[dict]:
    """The flags of one redemption as `principal` may see them."""
    return visible_flag_lists(session, principal, {"": list(flags)})[""]


def visible_flag_lists(session: Session | None, principal: Principal,
                       by_redemption: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """`visible_flags` for many redemptions, with one district look-up for all of them."""
    if principal.is_bureau or (principal.role == "reviewer"
                               and not is_district_reviewer(principal)):
        return by_redemption
    if principal.role != "reviewer" or session is None:
        return {k: [party_view(f) for f in v] for k, v in by_redemption.items()}
    every = [f for flags in by_redemption.values() for f in flags]
    outside = _enterprises_outside(session, principal, _named_enterprises(every))
    return {k: [_district_view(f, outside) if _names_any(f, outside) else f for f in v]
            for k, v in by_redemption.items()}


def _shared(flag: dict) -> list[dict]:
    return flag.get("evidence", {}).get("shared", []) if flag["rule"] == "shared_contact" else []


def _named_enterprises(flags: Iterable[dict]) -> set[str]:
    return {s["with_id"] for f in flags for s in _shared(f)
            if s.get("with_type") == "enterprise" and s.get("with_id")}


def _names_any(flag: dict, outside: set[str]) -> bool:
    return any(s.get("with_type") == "enterprise" and s.get("with_id") in outside
               for s in _shared(flag))


def _enterprises_outside(session: Session, principal: Principal, ids: set[str]) -> set[str]:
    if not ids:
        return set()
    inside = set(session.execute(select(Enterprise.id).where(
        Enterprise.id.in_(sorted(ids)), Enterprise.district == principal.district)).scalars())
    return ids - inside


def _district_view(flag: dict, outside: set[str]) -> dict:
    """A shared-contact flag for a district reviewer: another district's enterprise is named
    by nothing but the kind of fact shared."""
    shared = [s if not (s.get("with_type") == "enterprise" and s.get("with_id") in outside)
              else {"fact": s["fact"], "with_type": "enterprise", "outside_scope": True}
              for s in _shared(flag)]
    zh, en = PARTY_SENTENCES["shared_contact"]
    return {**flag, "evidence": {**flag["evidence"], "shared": shared},
            "message_zh": zh, "message_en": en}
