"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session


def insert_if_absent(session: Session, model, **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING: safe when two transactions create the same row."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())
