"""Whom each line of a batch is paid to: the beneficiary's account name, bank and account number
from the registry (service/registry/payment.py, docs/exports.md).

Approval fixes them on the lines, so the payment file shows the account the approver saw even if
the registry changes afterwards; until then (a draft under review) the registry's current facts
are shown. A line that pays nothing (its clawback took all of it) needs no account."""

from typing import Any

from sqlmodel import Session, select

from service.registry import payment
from service.registry.models import Enterprise, Provider
from service.registry.payment import Payee
from service.settlements.models import SettlementLine

Key = tuple[str, str]  # (beneficiary_type, beneficiary_id)


def parties(session: Session, keys) -> dict[Key, Enterprise | Provider]:
    """The registry rows of the beneficiaries, by (type, id)."""
    keys = list(keys)
    out: dict[Key, Enterprise | Provider] = {}
    for kind, model in (("enterprise", Enterprise), ("provider", Provider)):
        wanted = [k[1] for k in keys if k[0] == kind]
        if wanted:
            for row in session.exec(select(model).where(model.id.in_(wanted))):
                out[(kind, row.id)] = row
    return out


def _key(line: SettlementLine) -> Key:
    return (line.beneficiary_type, line.beneficiary_id)


def without_account(session: Session, lines: list[SettlementLine]) -> list[dict[str, Any]]:
    """The beneficiaries a batch would pay that have no account on file, with what they lack."""
    paying = [line for line in lines if line.amount_fen > 0]
    rows = parties(session, map(_key, paying))
    return [{"beneficiary_type": line.beneficiary_type, "beneficiary_id": line.beneficiary_id,
             "beneficiary_name": line.beneficiary_name, "missing": lacking}
            for line in paying if (lacking := payment.missing(rows[_key(line)]))]


def fix(session: Session, lines: list[SettlementLine]) -> None:
    """At approval: write each line's payee from the registry (after `without_account` found
    none missing; a line paying nothing gets one too where the registry has it)."""
    rows = parties(session, map(_key, lines))
    for line in lines:
        payee = payment.payee(rows[_key(line)])
        if payee is not None:
            line.account_name, line.bank_name, line.bank_account = payee
            session.add(line)


def of_lines(session: Session, lines: list[SettlementLine]) -> dict[Key, Payee | None]:
    """Each line's payee: as fixed at approval, else as the registry has it now."""
    out: dict[Key, Payee | None] = {}
    unfixed = []
    for line in lines:
        if line.bank_account:
            out[_key(line)] = Payee(line.account_name, line.bank_name, line.bank_account)
        else:
            unfixed.append(_key(line))
    for key, row in parties(session, unfixed).items():
        out[key] = payment.payee(row)
    return out
