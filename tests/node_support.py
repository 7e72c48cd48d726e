"""Running the browser desk's scripts under node, for tests: a check script of
tests/js/ reads a JSON job on stdin and prints a JSON answer, with the pinned
libsodium (and fflate) of themes/default/js/node_modules on NODE_PATH."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / "themes" / "default" / "js" / "node_modules"
CHECKS = ROOT / "tests" / "js"


def node() -> str:
    """node's path; the test fails (never skips) without it or without the pinned modules."""
    found = shutil.which("node")
    if found is None:
        pytest.fail("node is needed to test the desk's browser scripts (Node 20 or later)")
    if not (NODE_MODULES / "libsodium-wrappers-sumo").is_dir():
        pytest.fail("themes/default/js/node_modules is missing: run `make` (npm ci in themes/default/js)")
    return found


def run_check(script: str, job: dict[str, Any], *, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run tests/js/``script`` on ``job``; with ``ok``, it must succeed."""
    done = subprocess.run(  # noqa: S603 - node, with a test script of this repository
        [node(), str(CHECKS / script)], input=json.dumps(job), capture_output=True, text=True, timeout=120,
        check=False, env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def answer_of(script: str, job: dict[str, Any]) -> dict[str, Any]:
    """The JSON answer of tests/js/``script`` to ``job``."""
    answer: dict[str, Any] = json.loads(run_check(script, job).stdout)
    return answer
