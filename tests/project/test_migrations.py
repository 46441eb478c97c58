"""The Alembic migrations build exactly the schema the models declare, on both backends."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import service.models  # noqa: F401 - registers every table on the metadata
from service.kit.db import metadata


def _diffs(engine) -> list:
    with engine.connect() as conn:
        # Configured like migrations/env.py, so this sees what `alembic revision
        # --autogenerate` would see.
        context = MigrationContext.configure(conn, opts={"compare_type": True,
                                                         "render_as_batch": True,
                                                         "target_metadata": metadata})
        return compare_metadata(context, metadata)


def test_migrated_schema_matches_models(engine):
    diffs = _diffs(engine)
    assert diffs == [], ("the migrations and service.db.metadata differ; add a migration "
                         f"(alembic revision --autogenerate): {diffs}")


def test_migration_head_is_recorded(engine):
    from alembic.script import ScriptDirectory

    from service.kit.db import alembic_config

    head = ScriptDirectory.from_config(alembic_config(str(engine.url))).get_current_head()
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head


def test_comparison_notices_a_schema_drift(engine):
    """Guards the test above against passing vacuously."""
    with engine.begin() as conn:
        conn.exec_driver_sql("ALTER TABLE enterprise ADD COLUMN drift INTEGER")
    try:
        diffs = _diffs(engine)
    finally:  # the PostgreSQL schema is shared by the whole session: put it back
        with engine.begin() as conn:
            conn.exec_driver_sql("ALTER TABLE enterprise DROP COLUMN drift")
    assert [(d[0], d[3].name) for d in diffs] == [("remove_column", "drift")]
