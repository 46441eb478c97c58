"""Where an undecided application or draft batch waits when the year's review levels change
(docs/review-chain.md): called by the year's policy update, so it sits below the deciding
code and needs only the trail and the two models."""

from sqlmodel import Session, select

from service.audit import service as audit
from service.reviewchain import trail
from service.settlements.models import Settlement
from service.vouchers.models import Application


def _passed(steps) -> set[str]:
    """The levels an object has passed: approvals not undone by a send-back to them."""
    passed: set[str] = set()
    for step in steps:
        if step.decision == "approve":
            passed.add(step.level)
        elif step.decision == "send_back" and step.to_level:
            passed.discard(step.to_level)
    return passed


def placement(levels: list[str], passed: set[str]) -> str:
    """Where an undecided object waits under `levels`: the level after the furthest one it has
    passed (a level added before that is not imposed on it); the last level if it has passed
    them all (its decision is then the approval itself)."""
    furthest = max((levels.index(p) for p in passed if p in levels), default=-1)
    return levels[min(furthest + 1, len(levels) - 1)]


def replace_waiting(session: Session, year: int, levels: list[str], *, version: int) -> int:
    """After a change of the year's review levels, move each undecided application and draft
    batch to where it waits under the new levels; each move is audited. Returns how many
    moved."""
    moved = 0
    for object_type, model, open_status in (("application", Application, "submitted"),
                                            ("settlement", Settlement, "draft")):
        rows = session.exec(select(model).where(model.year == year,
                                                model.status == open_status)
                            .with_for_update()).all()
        for obj in rows:
            new = placement(levels, _passed(trail.steps_of(session, object_type, obj.id)))
            if new == obj.review_level:
                continue
            audit.record(session, action=f"{object_type}.review_moved", object_type=object_type,
                         object_id=obj.id,
                         summary={"from_level": obj.review_level, "to_level": new,
                                  "review_levels": levels, "policy_version": version})
            obj.review_level = new
            session.add(obj)
            moved += 1
    return moved
