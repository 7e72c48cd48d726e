"""``parrhesia plugin new``: the skeleton it writes is a plugin whose own tests pass.

The generated distribution is not installed into the shared environment: its tests run
in a subprocess whose ``PYTHONPATH`` holds the distribution's folder and a
``.dist-info`` carrying the entry points of its ``pyproject.toml``, which is all an
install gives ``importlib.metadata`` to find a plugin by.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404
import sys
import tomllib
from pathlib import Path

import pytest
from click.testing import CliRunner

from parrhesia.cli import main
from parrhesia.cli.plugin_new import write_skeleton


def _as_if_installed(distribution: Path, site: Path) -> None:
    """Write the ``.dist-info`` an install would: its metadata and entry points."""
    project = tomllib.loads((distribution / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    info = site / f"{project['name'].replace('-', '_')}-{project['version']}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n", encoding="utf-8"
    )
    groups = project["entry-points"]
    (info / "entry_points.txt").write_text(
        "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) for group, eps in groups.items()),
        encoding="utf-8",
    )


def test_a_new_plugin_passes_its_own_tests(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plugin", "new", "atlantis", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    distribution = tmp_path / "parrhesia-atlantis"
    for expected in ("pyproject.toml", "README.md", "babel.cfg", "parrhesia_atlantis/__init__.py",
                     "parrhesia_atlantis/institutions.py", "parrhesia_atlantis/py.typed",
                     "parrhesia_atlantis/translations/README.md", "tests/conftest.py",
                     "tests/test_parrhesia_atlantis_plugin.py"):
        assert (distribution / expected).is_file(), expected
    assert "{{" not in "".join(p.read_text(encoding="utf-8") for p in distribution.rglob("*") if p.is_file())
    project = tomllib.loads((distribution / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["entry-points"]["parrhesia"] == {"atlantis": "parrhesia_atlantis"}

    site = tmp_path / "site"
    _as_if_installed(distribution, site)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(distribution), str(site)])}
    run = subprocess.run(  # nosec B603
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=distribution, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    # Six tests; the ones on an app run once per database backend (twice when
    # PARRHESIA_TEST_DATABASE_URL is set, as in CI).
    expected = "8 passed" if os.environ.get("PARRHESIA_TEST_DATABASE_URL") else "6 passed"
    assert expected in run.stdout, run.stdout


def test_a_new_plugins_code_is_clean(tmp_path: Path) -> None:
    distribution = write_skeleton("atlantis", tmp_path)
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed")
    run = subprocess.run(  # nosec B603
        [str(ruff), "check", "--isolated", "--select", "E,F,W,B,UP", "--line-length", "120", str(distribution)],
        capture_output=True, text=True, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


@pytest.mark.parametrize("name", ["Atlantis", "1st", "atlantis_", "a--b", "a-", "x" * 33])
def test_a_name_that_cannot_be_a_plugin_is_refused(name: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["plugin", "new", name, "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "not a plugin name" in result.output
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "parrhesia-atlantis").mkdir()
    result = CliRunner().invoke(main, ["plugin", "new", "atlantis", "--out", str(tmp_path)])
    assert result.exit_code != 0
    assert "already exists" in result.output
    assert list((tmp_path / "parrhesia-atlantis").iterdir()) == []
