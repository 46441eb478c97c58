from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel
from sqlmodel import or_

from service.api import BureauReport, Cursor, Limit, YearQuery, text_query
from service.kit.paging import Page, paginate
from service.kit.timestamps import Timestamp
from service.problems import problem_responses
from service.ledger import access
from service.ledger.models import LedgerAccount, LedgerTransfer

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])


class AccountPublic(BaseModel):
    id: str
    code: str
    year: int
    kind: str
    owner_type: str | None
    owner_id: str | None
    debits_posted_fen: int
    credits_posted_fen: int
    balance_fen: int
    must_not_go_negative: bool
    must_not_go_positive: bool


class TransferPublic(BaseModel):
    id: str
    year: int
    debit_account_id: str
    credit_account_id: str
    amount_fen: int
    kind: str
    reference: str
    created_at: Timestamp


def _account(row: LedgerAccount) -> AccountPublic:
    return AccountPublic(**row.model_dump(), balance_fen=row.balance_fen)


@router.get("/accounts", response_model=Page[AccountPublic], operation_id="listLedgerAccounts",
            responses=problem_responses())
def list_accounts(r: BureauReport, limit: Limit = 50,
                  cursor: Cursor = None, year: YearQuery = None,
                  kind: Annotated[str | None, text_query(20)] = None,
                  owner_id: Annotated[str | None, text_query(40)] = None):
    stmt = access.readable(r.principal)
    if year is not None:
        stmt = stmt.where(LedgerAccount.year == year)
    if kind:
        stmt = stmt.where(LedgerAccount.kind == kind)
    if owner_id:
        stmt = stmt.where(LedgerAccount.owner_id == owner_id)
    return r.read(lambda session: paginate(session, stmt, LedgerAccount.id, limit, cursor,
                                           _account))


@router.get("/transfers", response_model=Page[TransferPublic], operation_id="listLedgerTransfers",
            responses=problem_responses())
def list_transfers(r: BureauReport, limit: Limit = 50,
                   cursor: Cursor = None, year: YearQuery = None,
                   kind: Annotated[str | None, text_query(30)] = None,
                   account_id: Annotated[str | None, text_query(40)] = None,
                   reference: Annotated[str | None, text_query(60)] = None):
    stmt = access.readable_transfers(r.principal)
    if year is not None:
        stmt = stmt.where(LedgerTransfer.year == year)
    if kind:
        stmt = stmt.where(LedgerTransfer.kind == kind)
    if account_id:
        stmt = stmt.where(or_(LedgerTransfer.debit_account_id == account_id,
                              LedgerTransfer.credit_account_id == account_id))
    if reference:
        stmt = stmt.where(LedgerTransfer.reference == reference)
    return r.read(lambda session: paginate(
        session, stmt, LedgerTransfer.id, limit, cursor,
        lambda t: TransferPublic.model_validate(t, from_attributes=True)))
