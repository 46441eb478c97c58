"""The `voucher` command against a database it cannot use (issue 21, item 9), and the key
`make run` creates (item 8): one line naming `voucher migrate` and DATABASE_URL, exit 2, nothing
created; a `make run` key that expires and replaces the previous one."""

import os
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url

from service.kit import clock
from service.cli import main as cli_main
from service.kit.config import get_settings
from tests.conftest import PG_URL, sql

COMMANDS = [["serve"], ["create-key", "--role", "admin", "--name", "x"], ["demo"],
            ["reconcile", "--year", "2026"], ["verify-audit"], ["close-year", "2026"]]


@pytest.fixture
def database_url(monkeypatch):
    """Point the command at a DATABASE_URL (settings are read once per process, so clear them)."""
    def use(url: str) -> None:
        monkeypatch.setenv("DATABASE_URL", url)
        get_settings.cache_clear()
    yield use
    get_settings.cache_clear()


def _one_line_refusal(capsys, *needles: str) -> None:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("error: database_not_ready: "), err
    for needle in ("voucher migrate", "DATABASE_URL", *needles):
        assert needle in err, err


@pytest.mark.parametrize("argv", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_a_missing_sqlite_file_is_named_and_not_created(argv, tmp_path, monkeypatch, capsys,
                                                        database_url):
    monkeypatch.chdir(tmp_path)
    database_url("sqlite:///./voucher.db")
    assert cli_main(argv) == 2
    _one_line_refusal(capsys, "no database file ./voucher.db")
    assert list(tmp_path.iterdir()) == []


def test_an_unmigrated_database_is_named(tmp_path, monkeypatch, capsys, database_url):
    monkeypatch.chdir(tmp_path)
    Path("empty.db").touch()
    database_url("sqlite:///empty.db")
    assert cli_main(["reconcile", "--year", "2026"]) == 2
    _one_line_refusal(capsys, "the database sqlite:///empty.db is not migrated")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty.db"]


def test_migrate_still_creates_the_database_and_the_commands_then_work(tmp_path, monkeypatch,
                                                                       capsys, database_url):
    monkeypatch.chdir(tmp_path)
    database_url("sqlite:///./voucher.db")
    assert cli_main(["migrate"]) == 0
    assert Path("voucher.db").exists()
    assert cli_main(["create-key", "--role", "admin", "--name", "x"]) == 0
    assert capsys.readouterr().out.splitlines()[-1].startswith("cvk_")


@pytest.mark.postgres
def test_a_postgres_database_that_does_not_exist_says_check_database_url(capsys, database_url):
    if not PG_URL:
        pytest.skip("PG_TEST_URL is not set")
    url = make_url(PG_URL).set(database="voucher_no_such_database")
    database_url(url.render_as_string(hide_password=False))
    assert cli_main(["reconcile", "--year", "2026"]) == 2
    _one_line_refusal(capsys, "cannot use the database", "voucher_no_such_database")


def test_the_real_command_prints_no_traceback(tmp_path):
    """As a user runs it from another directory: one line on stderr, exit 2, no ./voucher.db."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run([sys.executable, "-m", "service.cli", "create-key", "--role", "admin",
                           "--name", "x"], cwd=tmp_path, env={**env, "PYTHONPATH": str(
                               Path(__file__).resolve().parents[2])},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "error: database_not_ready: no database file ./voucher.db "
        "(DATABASE_URL=sqlite:///./voucher.db): run `voucher migrate` to create and migrate it, "
        "or check DATABASE_URL"]
    assert list(tmp_path.iterdir()) == []


def test_voucher_help_cites_docs_that_are_in_the_repository(capsys):
    with pytest.raises(SystemExit):
        cli_main(["--help"])
    out = capsys.readouterr().out
    assert "PRODUCT.md" not in out
    assert "README.md" in out and "docs/operations.md" in out
    root = Path(__file__).resolve().parents[2]
    assert (root / "README.md").exists() and (root / "docs/operations.md").exists()


# --- the `make run` key (issue 21, item 8) ---------------------------------------------------

def _keys(engine, name):
    return [tuple(r) for r in sql(engine, "SELECT id, revoked_at IS NULL, expires_at FROM api_key "
                                          "WHERE name = :n ORDER BY id", n=name)]


def test_make_run_key_expires_and_replaces_the_previous_one(engine, capsys, database_url):
    database_url(engine.url.render_as_string(hide_password=False))
    argv = ["create-key", "--role", "admin", "--name", "make run", "--expires-in-days", "7",
            "--replace"]
    assert cli_main(argv) == 0
    first_out = capsys.readouterr().out.splitlines()
    [(first, live, expires_at)] = _keys(engine, "make run")
    assert live
    expires_at = datetime.fromisoformat(str(expires_at))  # SQLite answers text
    if expires_at.tzinfo is None:
        expires_at = expires_at.replace(tzinfo=clock.SHANGHAI)
    assert timedelta(days=6, hours=23) < expires_at - clock.now() <= timedelta(days=7)
    assert first_out[0].endswith("(make run, expires in 7 days); it is shown once:")
    assert cli_main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"revoked admin key {first} (the previous key named 'make run')"
    assert out[-1].startswith("cvk_")
    keys = _keys(engine, "make run")
    assert [(k[0], k[1]) for k in keys] == [(first, False), (keys[1][0], True)]
    # Other admin keys are left alone.
    assert cli_main(["create-key", "--role", "admin", "--name", "someone"]) == 0
    assert cli_main(argv) == 0
    assert [live for _, live, _ in _keys(engine, "someone")] == [True]
    assert [live for _, live, _ in _keys(engine, "make run")] == [False, False, True]
