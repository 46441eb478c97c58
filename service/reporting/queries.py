"""Aggregate SQL shared by the budget, the annual report and reconciliation."""

from sqlalchemy import Date, Integer, String, cast, func
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session


def month_of(session: Session, column) -> ColumnElement:
    """'YYYY-MM' of a timestamp in Asia/Shanghai (SQLite stores Shanghai wall time)."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("Asia/Shanghai", column), "YYYY-MM")
    return cast(func.strftime("%Y-%m", column), String)


def days_between(session: Session, earlier, later) -> ColumnElement:
    """Whole days from the Shanghai date of `earlier` to that of `later` (timestamps)."""
    if session.get_bind().dialect.name == "postgresql":
        return (cast(func.timezone("Asia/Shanghai", later), Date)
                - cast(func.timezone("Asia/Shanghai", earlier), Date))
    return cast(func.julianday(func.date(later)) - func.julianday(func.date(earlier)), Integer)


def month_sql(dialect: str, column: str) -> str:
    """month_of as SQL text, for statements written out by hand (rollup rebuilds)."""
    if dialect == "postgresql":
        return f"to_char(timezone('Asia/Shanghai', {column}), 'YYYY-MM')"
    return f"strftime('%Y-%m', {column})"


def as_int(column) -> ColumnElement:
    return cast(func.coalesce(func.sum(column), 0), Integer)
