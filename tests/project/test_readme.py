"""The README is a test (issue 21, item 1): its two walk-throughs ("A first walk-through", "From
invoice to paid settlement") run as written, in order, in one bash shell with curl, against a
fresh real server, and every figure they quote matches what the commands printed.

What is substituted: only the two things a reader substitutes too, the admin key `make run`
prints (`export KEY=cvk_...`, here made the way `make run` makes it) and the server's address.
Each step finds the ids and keys it needs with the README's own `field` helper. What is checked:
- every answer a `| show` prints is JSON and none is a problem (no 4xx hidden by `curl -s`);
- a `# → path value, path value` comment on a `| show` line names fields of that answer
  (`items.0.balance_fen` reaches into lists);
- a ```json block after a ```sh block is the last answer that block printed: every field it
  lists, a string with `...` only up to the `...`.
The server's business date is 2026-06-15 (tests/readme_clock), the README's year."""

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import ROOT, LiveServer

README = Path(ROOT) / "README.md"
SECTIONS = ("## A first walk-through", "## From invoice to paid settlement")
CLOCK_HOOK = str(Path(__file__).resolve().parent.parent / "readme_clock")
KEY_LINE = "export KEY=cvk_...            # the admin key printed by `make run`"
README_URL = "http://127.0.0.1:8000"
END = "@@README-BLOCK-END@@"


@dataclass
class Block:
    section: str
    sh: str
    json: str | None = None


def walkthrough_blocks(text: str) -> list[Block]:
    """The fenced ```sh blocks of the walk-through sections, in order, each with the ```json
    block that follows it, if any."""
    blocks: list[Block] = []
    section, fence, body = None, None, []
    for line in text.splitlines():
        if fence is None and line.startswith("## "):
            section = line if line in SECTIONS else None
        elif fence is None and line.startswith("```") and section:
            fence, body = line[3:].strip(), []
        elif fence is not None and line == "```":
            if fence == "sh":
                blocks.append(Block(section, "\n".join(body)))
            elif fence == "json" and blocks:
                blocks[-1].json = "\n".join(body)
            fence = None
        elif fence is not None:
            body.append(line)
    return blocks


def test_the_readme_has_both_walkthroughs():
    blocks = walkthrough_blocks(README.read_text())
    assert {b.section for b in blocks} == set(SECTIONS)
    assert sum(KEY_LINE in b.sh for b in blocks) == 1
    assert len(blocks) >= 10


# --- what the README quotes ------------------------------------------------------------------

def _value(text: str):
    if re.fullmatch(r"-?[0-9]+", text):
        return int(text)
    return {"true": True, "false": False, "null": None}.get(text, text)


def arrow_expectations(sh: str) -> dict[int, dict[str, object]]:
    """{index of the `| show` answer: {path: value}} from the `# → ...` comments."""
    expected, shown = {}, -1
    for line in sh.splitlines():
        shown += line.count("| show")
        if "# →" not in line:
            continue
        assert "| show" in line, f"a `# →` comment on a line that shows no answer: {line}"
        comment = re.sub(r"\([^)]*\)", "", line.split("# →", 1)[1]).strip()
        pairs = {}
        for item in comment.split(","):
            match = re.fullmatch(r"([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*) (\S+)", item.strip())
            assert match, f"cannot read {item!r} in {line!r} (write `# → field value, ...`)"
            pairs[match[1]] = _value(match[2])
        expected[shown] = pairs
    return expected


def json_expectations(text: str) -> dict:
    """The README's abbreviated JSON (`...` for fields left out) as a dict."""
    return json.loads(re.sub(r",\s*\.\.\.(?=\s*[}\]])", "", text))


def _at(doc, path: str):
    for part in path.split("."):
        doc = doc[int(part)] if isinstance(doc, list) else doc[part]
    return doc


def _matches(expected, actual) -> bool:
    if isinstance(expected, str) and "..." in expected:
        return isinstance(actual, str) and actual.startswith(expected.split("...")[0])
    return expected == actual


def json_documents(output: str) -> list:
    decoder, docs, at = json.JSONDecoder(), [], 0
    while True:
        while at < len(output) and output[at].isspace():
            at += 1
        if at == len(output):
            return docs
        doc, at = decoder.raw_decode(output, at)
        docs.append(doc)


# --- running it ------------------------------------------------------------------------------

def _admin_key(database_url: str) -> str:
    """As `make run` makes it (Makefile, `run`)."""
    done = subprocess.run(
        [sys.executable, "-m", "service.cli", "create-key", "--role", "admin", "--name",
         "make run", "--expires-in-days", "7", "--replace"], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env={**os.environ, "DATABASE_URL": database_url})
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()[-1]


def run_walkthroughs(blocks: list[Block], *, key: str, url: str, cwd: Path) -> list[str]:
    """Run every block in one bash shell; answer each block's output."""
    parts = ["set -eo pipefail"]
    for block in blocks:
        parts += [block.sh.replace(KEY_LINE, f"export KEY={key}").replace(README_URL, url),
                  f"printf '\\n{END}\\n'"]
    done = subprocess.run(["bash", "-c", "\n".join(parts)], cwd=cwd, capture_output=True,
                          text=True, timeout=300)
    outputs = done.stdout.split(f"\n{END}\n")
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:], outputs[-1][-3000:])
    assert len(outputs) == len(blocks) + 1 and outputs[-1] == "", done.stdout[-3000:]
    return outputs[:-1]


def check_block(block: Block, output: str) -> None:
    docs = json_documents(output)
    where = (block.sh.splitlines()[0], output[-2000:])
    assert len(docs) == block.sh.count("| show"), where
    for doc in docs:
        assert not (isinstance(doc, dict) and doc.get("status", 0) in range(400, 600)
                    and "code" in doc), (where, doc)
    for index, pairs in arrow_expectations(block.sh).items():
        for path, value in pairs.items():
            assert _matches(value, _at(docs[index], path)), (path, value, docs[index], where)
    if block.json is not None:
        for name, value in json_expectations(block.json).items():
            assert _matches(value, docs[-1][name]), (name, value, docs[-1], where)


@pytest.fixture
def readme_server(engine):
    url = engine.url.render_as_string(hide_password=False)
    server = LiveServer(url, VOUCHER_TODAY="2026-06-15",
                        PYTHONPATH=os.pathsep.join([CLOCK_HOOK, ROOT]))
    server.start()
    try:
        yield server, url
    finally:
        server.stop()


def test_the_readme_walkthroughs_run_as_written(readme_server, tmp_path):
    server, database_url = readme_server
    blocks = walkthrough_blocks(README.read_text())
    outputs = run_walkthroughs(blocks, key=_admin_key(database_url), url=server.url,
                               cwd=tmp_path)
    for block, output in zip(blocks, outputs, strict=True):
        check_block(block, output)
    assert (tmp_path / "payments.xlsx").read_bytes()[:2] == b"PK"  # the payment file


def test_the_checks_catch_a_drifted_figure():
    """The checker itself: a figure the answer does not have fails."""
    block = Block(SECTIONS[0], 'curl x | show   # → balance_fen 5, status paid (note)',
                  '{"id": "vch_...", "year": 2026, ...}')
    check_block(block, '{"balance_fen": 5, "status": "paid", "id": "vch_01", "year": 2026}')
    with pytest.raises(AssertionError):
        check_block(block, '{"balance_fen": 6, "status": "paid", "id": "vch_01", "year": 2026}')
    with pytest.raises(AssertionError):
        check_block(block, '{"balance_fen": 5, "status": "paid", "id": "ent_01", "year": 2026}')
    with pytest.raises(AssertionError):  # a refusal is never a walk-through's answer
        check_block(Block(SECTIONS[0], "curl x | show"),
                    '{"status": 415, "code": "unsupported_media_type"}')
