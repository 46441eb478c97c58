"""The lock file (requirements.txt, pip-tools with hashes; `make lock` refreshes it) agrees with
pyproject.toml: every dependency the project declares (its own and the `test` extra's) is pinned
there, at a version its range allows, with hashes; and the lock names no other direct one."""

import re
from importlib import metadata
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")
OURS = "compute-voucher (pyproject.toml)"


def declared() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    lines = project["dependencies"] + project["optional-dependencies"]["test"]
    return {canonicalize_name(r.name): r for r in map(Requirement, lines)}


def locked() -> tuple[dict[str, str], set[str], set[str]]:
    """Pinned versions, the packages with hashes, and those pip-compile says come from us."""
    pins, hashed, direct, current = {}, set(), set(), None
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = PIN.match(line)
        if match:
            current = canonicalize_name(match[1])
            pins[current] = match[2]
        elif "--hash=sha256:" in line and current:
            hashed.add(current)
        elif OURS in line and current:
            direct.add(current)
    return pins, hashed, direct


def test_every_declared_dependency_is_pinned_within_its_range_with_hashes():
    pins, hashed, _ = locked()
    for name, requirement in declared().items():
        assert name in pins, f"{name} is in pyproject.toml but not in requirements.txt: make lock"
        assert requirement.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} is outside {requirement}: make lock")
    assert set(pins) == hashed, set(pins) ^ hashed


def test_the_lock_has_no_direct_dependency_pyproject_lacks():
    _, _, direct = locked()
    assert direct == set(declared()), direct ^ set(declared())


def test_the_extras_dependencies_are_locked_too():
    """e.g. psycopg[binary] brings psycopg-binary, uvicorn[standard] brings uvloop, httptools…"""
    pins, _, _ = locked()
    for name, requirement in declared().items():
        for extra in requirement.extras:
            for line in metadata.requires(name) or []:
                needed = Requirement(line)
                if needed.marker and needed.marker.evaluate({"extra": extra}) and (
                        not needed.marker.evaluate({"extra": ""})):
                    assert canonicalize_name(needed.name) in pins, (name, extra, line)
