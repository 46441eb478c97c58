"""Small SQL helpers that must behave the same on SQLite and PostgreSQL."""

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from service.kit.errors import NotFound


def insert_if_absent(session: Session, model, **values) -> None:
    """INSERT … ON CONFLICT DO NOTHING: safe when two transactions create the same row."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(model).values(**values).on_conflict_do_nothing())


# --- set-based writes for the batched write path -----------------------------------------------
#
# A batch writes many rows of a table at once. On PostgreSQL each of these is ONE statement of
# fixed text whatever the number of rows: the rows travel as one JSON document (encoded by the
# C json encoder) and `json_populate_recordset` turns them back into rows of the table's own
# type, so psycopg prepares the statement once and sends it in one round trip; executemany
# would send and convert a statement per row. SQLite's executemany is its driver's C loop,
# already as cheap.

_sql: dict[tuple, Any] = {}
_rows_json = json.JSONEncoder(default=str, ensure_ascii=False, separators=(",", ":")).encode


def insert_many(session: Session, table: Table, rows: Sequence[dict]) -> None:
    """INSERT every row (dicts with the same keys) in one statement."""
    if not rows:
        return
    db = session.connection()
    if db.dialect.name != "postgresql":
        db.execute(table.insert(), list(rows))
        return
    names = tuple(rows[0])
    key = ("insert", table.name, names)
    if key not in _sql:
        columns = ", ".join(names)
        _sql[key] = text(f"INSERT INTO {table.name} ({columns}) SELECT {columns} "
                         f"FROM json_populate_recordset(NULL::{table.name}, :rows)")
    db.execute(_sql[key], {"rows": _rows_json(rows)})


def update_many(session: Session, table: Table, rows: Sequence[dict], *, key: str,
                add: Sequence[str] = (), set_: Sequence[str] = (), guard: str | None = None
                ) -> int:
    """UPDATE the row of each dict (found by `key`, unique among the dicts): `add` columns are
    incremented by the dict's value, `set_` columns set to it; `guard` is an extra condition
    on the row (`t.` the table's columns, `v.` the dict's). Returns how many rows changed."""
    if not rows:
        return 0
    db = session.connection()
    postgres = db.dialect.name == "postgresql"
    cache_key = ("update", table.name, key, tuple(add), tuple(set_), guard, postgres)
    if cache_key not in _sql:
        if postgres:
            assignments = [f"{c} = t.{c} + v.{c}" for c in add] + [f"{c} = v.{c}" for c in set_]
            _sql[cache_key] = text(
                f"UPDATE {table.name} AS t SET {', '.join(assignments)} "
                f"FROM json_populate_recordset(NULL::{table.name}, :rows) AS v "
                f"WHERE t.{key} = v.{key}" + (f" AND {guard}" if guard else ""))
        else:  # one statement per dict, its values bound by name
            assignments = [f"{c} = {c} + :{c}" for c in add] + [f"{c} = :{c}" for c in set_]
            where = f"{key} = :{key}"
            if guard:
                where += " AND " + guard.replace("t.", "").replace("v.", ":")
            _sql[cache_key] = text(
                f"UPDATE {table.name} SET {', '.join(assignments)} WHERE {where}")
    if postgres:
        return db.execute(_sql[cache_key], {"rows": _rows_json(rows)}).rowcount
    return db.execute(_sql[cache_key], list(rows)).rowcount


# --- reads through a domain's access.readable --------------------------------------------------


def one_readable(session: Session, stmt, not_found: str, *, for_update: bool = False):
    """The one row `stmt` (a domain's `access.readable(principal)` narrowed to an id) finds, or
    NotFound(`not_found`): another party's row and a row that does not exist answer alike."""
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    row = session.execute(stmt).scalar_one_or_none()
    if row is None:
        raise NotFound(not_found)
    return row
