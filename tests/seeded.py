"""One world seeded per module and database, restored for every test (issue 23).

The route-enumerating suites (access matrix, hostile input, Schemathesis) each run many tests
on the same starting world: a year, parties, invoices, a redemption, keys… Building it through
the API took most of a test's set-up. `shared_world(seed)` (tests/conftest.py) runs `seed(api)`
once per pytest process, module and database, takes a snapshot of the database, and gives every
test a fresh copy of that snapshot with its own app and client, so each test still starts from
exactly the seeded rows and may write what it likes.

- SQLite: the snapshot is a copy of the seeded file (sqlite3's backup, WAL included); a test
  gets its own copy in /dev/shm, as with the migrated template.
- PostgreSQL: the snapshot is the text of `COPY … TO STDOUT` of every non-empty table and the
  value of every sequence that was used; a test gets the worker's database emptied (the usual
  reset) and the rows copied back in, in one transaction with the triggers off (as a superuser
  may), in a few milliseconds.
"""

import copy
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from service.kit.db import metadata
from tests import pg_databases


@dataclass
class Snapshot:
    data: Any                  # what seed(api) returned
    admin: dict[str, str]      # the seeding Api's admin key (its row is in the snapshot)
    seed_api: Any              # replaced by the test's own Api in a copy of `data`
    sqlite_file: str | None = None
    pg_tables: list[tuple[str, bytes]] = field(default_factory=list)
    pg_sequences: list[tuple[str, int]] = field(default_factory=list)

    def data_for(self, api) -> Any:
        """A deep copy of the seed's data, with the seeding Api replaced by the test's."""
        return copy.deepcopy(self.data, {id(self.seed_api): api})


def take_sqlite(path: str, snapshot_path: str) -> str:
    src, dst = sqlite3.connect(path), sqlite3.connect(snapshot_path)
    try:
        src.backup(dst)
    finally:
        src.close()
        dst.close()
    return snapshot_path


_SEQUENCES = ("SELECT schemaname || '.' || sequencename, last_value FROM pg_sequences "
              "WHERE last_value IS NOT NULL")


def take_postgres(engine: Engine) -> tuple[list[tuple[str, bytes]], list[tuple[str, int]]]:
    tables = []
    with engine.connect() as conn:
        with conn.connection.driver_connection.cursor() as cur:
            for table in metadata.sorted_tables:
                with cur.copy(f"COPY {table.name} TO STDOUT") as out:
                    data = b"".join(bytes(chunk) for chunk in out)
                if data:
                    tables.append((table.name, data))
            cur.execute(_SEQUENCES)
            sequences = [(name, value) for name, value in cur.fetchall()]
        conn.rollback()
    return tables, sequences


def restore_postgres(engine: Engine, snapshot: Snapshot) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(pg_databases.reset_statement(engine))  # triggers off from here
        with conn.connection.driver_connection.cursor() as cur:
            for name, data in snapshot.pg_tables:
                with cur.copy(f"COPY {name} FROM STDIN") as into:
                    into.write(data)
            for name, value in snapshot.pg_sequences:
                cur.execute("SELECT setval(%s, %s)", (name, value))
