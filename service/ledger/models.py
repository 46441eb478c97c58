from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint
from sqlmodel import Field, SQLModel

from service.kit.timestamps import created_at_field, fen_field


class LedgerAccount(SQLModel, table=True):
    """Balance = credits_posted − debits_posted. Flags forbid a negative or positive balance."""

    __tablename__ = "ledger_account"
    __table_args__ = (
        CheckConstraint("debits_posted_fen >= 0 AND credits_posted_fen >= 0", name="posted_nonneg"),
        CheckConstraint("NOT must_not_go_negative OR credits_posted_fen >= debits_posted_fen",
                        name="not_negative"),
        CheckConstraint("NOT must_not_go_positive OR debits_posted_fen >= credits_posted_fen",
                        name="not_positive"),
    )

    id: str = Field(primary_key=True, max_length=40)
    code: str = Field(unique=True, max_length=120)
    year: int = Field(index=True)
    kind: str = Field(max_length=20)
    owner_type: str | None = Field(default=None, max_length=20)
    owner_id: str | None = Field(default=None, max_length=40)
    debits_posted_fen: int = fen_field(default=0)
    credits_posted_fen: int = fen_field(default=0)
    must_not_go_negative: bool = False
    must_not_go_positive: bool = False
    created_at: datetime = created_at_field()

    @property
    def balance_fen(self) -> int:
        return self.credits_posted_fen - self.debits_posted_fen


class LedgerTransfer(SQLModel, table=True):
    """One debit, one credit, a positive amount: TigerBeetle's shape."""

    __tablename__ = "ledger_transfer"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("debit_account_id <> credit_account_id", name="distinct_accounts"),
    )

    id: str = Field(primary_key=True, max_length=40)
    year: int = Field(index=True)
    debit_account_id: str = Field(foreign_key="ledger_account.id", index=True, max_length=40)
    credit_account_id: str = Field(foreign_key="ledger_account.id", index=True, max_length=40)
    amount_fen: int = Field(sa_type=BigInteger)
    kind: str = Field(max_length=30, index=True)
    reference: str = Field(max_length=60, index=True)
    created_at: datetime = created_at_field()
