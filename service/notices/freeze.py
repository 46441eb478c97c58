"""Which lines of a batch an objection freezes (docs/notice.md): a line is frozen while any
objection naming it is unresolved (`received`), and for good once one naming it is upheld. An
objection freezes only the lines it names. The one place this rule is written; the settlement
view, payment, the payment file and the console read it from here."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlmodel import Session

from service.notices.models import Objection, ObjectionLine

FREEZING = ("received", "upheld")


@dataclass(frozen=True)
class LineState:
    objection_ids: tuple[str, ...]
    statuses: tuple[str, ...]

    @property
    def frozen(self) -> bool:
        return any(s in FREEZING for s in self.statuses)

    @property
    def upheld(self) -> bool:
        return "upheld" in self.statuses

    @property
    def cleared(self) -> bool:
        """Every objection naming the line was dismissed (and there was at least one)."""
        return bool(self.statuses) and all(s == "dismissed" for s in self.statuses)


NONE = LineState((), ())


def states(session: Session, line_ids: Iterable[str]) -> dict[str, LineState]:
    """The objections naming each line, oldest first; a line no objection names is `NONE`."""
    ids = list(line_ids)
    found: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if ids:
        for line_id, objection_id, status in session.execute(
                select(ObjectionLine.line_id, Objection.id, Objection.status)
                .join(Objection, Objection.id == ObjectionLine.objection_id)
                .where(ObjectionLine.line_id.in_(ids))
                .order_by(ObjectionLine.line_id, Objection.id)):
            found[line_id].append((objection_id, status))
    return {i: LineState(tuple(o for o, _ in found[i]), tuple(s for _, s in found[i]))
            if i in found else NONE for i in ids}


def frozen_ids(session: Session, line_ids: Iterable[str]) -> set[str]:
    return {i for i, state in states(session, line_ids).items() if state.frozen}
