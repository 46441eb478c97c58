"""What a rule looks at: one redemption and the tally of what came before it."""

from collections.abc import Callable
from typing import Any, NamedTuple

from service.risk.tally import InvoiceInfo, Party, Tally

# A rule's finding: its evidence, and a function giving its sentences (zh, en) — called only
# when the caller wants them (the back-test does not).
Found = tuple[dict, Callable[[], tuple[str, str]]]


class Subject(NamedTuple):
    t: Tally
    r: dict  # id, invoice_id, enterprise_id, provider_id, year, subsidy_fen, created_at
    policy: Any
    invoice: InvoiceInfo
    enterprise: Party | None
    provider: Party | None

    @property
    def year(self) -> int:
        return self.r["year"]

    @property
    def e(self) -> str:
        return self.r["enterprise_id"]

    @property
    def p(self) -> str:
        return self.r["provider_id"]

    @property
    def net(self) -> int:
        return self.r["subsidy_fen"]

    @property
    def provider_name(self) -> str:
        return self.provider.name if self.provider else self.p
