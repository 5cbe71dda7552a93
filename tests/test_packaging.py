"""The install is reproducible and tamper-evident: every pinned package carries its hashes and the
Makefile installs with --require-hashes (issue 13: the lock had no hashes)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ["requirements.lock", "requirements-bootstrap.lock"]


def requirements(lock: Path) -> dict[str, list[str]]:
    """Each `name==version` pin of a uv/pip lock file with the hashes listed under it."""
    pins: dict[str, list[str]] = {}
    current = None
    for line in lock.read_text().splitlines():
        if match := re.match(r"^([A-Za-z0-9_.\-\[\]]+==[^\s;\\]+)", line):
            current = match.group(1)
            pins[current] = []
        elif current and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            pins[current].append(digest.group(1))
        elif not line.startswith((" ", "\t")):
            current = None
    return pins


@pytest.mark.parametrize("name", LOCKS)
def test_every_pin_has_a_hash(name: str) -> None:
    pins = requirements(ROOT / name)
    assert pins, f"{name} pins nothing"
    unhashed = [pin for pin, hashes in pins.items() if not hashes]
    assert not unhashed, f"{name}: pins without --hash (run `make lock`): {unhashed}"


def test_makefile_installs_with_require_hashes() -> None:
    installs = [
        line
        for line in (ROOT / "Makefile").read_text().splitlines()
        if " install " in line and " -r " in line
    ]
    assert {lock for lock in LOCKS if any(lock in line for line in installs)} == set(LOCKS)
    assert all("--require-hashes" in line for line in installs), installs


def test_uv_pin_agrees_with_bootstrap_lock() -> None:
    version = re.search(r"^UV_VERSION := (\S+)", (ROOT / "Makefile").read_text(), re.M)
    assert version, "Makefile sets UV_VERSION"
    assert f"uv=={version.group(1)}" in requirements(ROOT / "requirements-bootstrap.lock")


def test_pyspark_connect_still_exits_under_a_bare_main() -> None:
    """The defect tests/conftest.py works around: importing pyspark's connect module from a `__main__`
    without a file (as pytest-xdist's workers have) exits the process. When this fails, pyspark has
    fixed it: remove the workaround from conftest.py and this test."""
    code = "import pyspark.sql.connect.utils as u; u.check_dependencies('x'); print('survived')"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "survived" not in done.stdout, "pyspark no longer exits under a bare __main__: drop the workaround"
    assert done.returncode == 0 and "Skipping doctests" in done.stderr, done.stderr[-2000:]
