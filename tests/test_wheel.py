"""A wheel serves every page: the default theme and the desk's libsodium are package data.

The wheel is built the way a release is (``python -m build``: an sdist, then a wheel
from the unpacked sdist, so a file the sdist forgets is missing from the wheel too),
from a copy of the source tree without its build state (setuptools adds to an sdist
every file listed in a leftover ``*.egg-info/SOURCES.txt``, which would hide a file
that package-data no longer names), installed into a fresh virtual environment, and
run from a folder outside the source tree. The fresh environment borrows the already installed dependencies through a
``.pth`` line (its own site-packages comes first, so ``parrhesia`` is the wheel's)
instead of downloading them again; the project's editable install is not active
there, since a ``.pth`` line only adds a folder to ``sys.path``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_THEME = ROOT / "themes" / "default"
VENDOR = DEFAULT_THEME / "static" / "vendor" / "libsodium-wrappers.js"
_BUILD_STATE = {".git", ".venv", "node_modules", "__pycache__", ".pytest_cache"}
_ROOT_BUILD_STATE = {"build", "dist", "instance", "demo-instance"}

# Runs inside the fresh environment: the app of an instance made by the installed
# `parrhesia init`, asked for a few pages through Flask's test client.
_FETCH_PAGES = """
import json, sys
import parrhesia
from parrhesia.web.app import bundled_themes, create_app

app = create_app(sys.argv[1])
client = app.test_client()
pages = {}
for path in ["/", "/static/style.css", "/static/vendor/libsodium-wrappers.js", "/desk/login"]:
    response = client.get(path)
    pages[path] = {"status": response.status_code, "body": response.get_data(as_text=True)}
print(json.dumps({"package": parrhesia.__file__, "themes": str(bundled_themes()), "pages": pages}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with Parrhesia installed from its wheel; its bin/."""
    if not VENDOR.is_file():
        pytest.fail("the desk's libsodium is not built: run `make` (npm ci in themes/default/js)")
    work = tmp_path_factory.mktemp("wheel")
    shutil.copytree(ROOT, work / "src", ignore=_build_state)
    _run([sys.executable, "-m", "build", "--outdir", str(work / "dist"), str(work / "src")], cwd=work)
    (wheel,) = (work / "dist").glob("parrhesia-*.whl")

    env_dir = work / "venv"
    venv.create(env_dir, with_pip=False)
    bin_dir = env_dir / "bin"
    python = bin_dir / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)], cwd=work)
    site_packages = Path(_run([str(python), "-I", "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], cwd=work))
    (site_packages / "_parrhesia_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return bin_dir


def _build_state(folder: str, names: list[str]) -> set[str]:
    """What a fresh checkout after `make` would not have: virtual environments, caches, old builds."""
    at_root = Path(folder) == ROOT
    return {name for name in names if name in _BUILD_STATE or name.endswith(".egg-info") or (at_root and name in _ROOT_BUILD_STATE)}


def _run(command: list[str], cwd: Path) -> str:
    """Run a command outside the source tree; its stdout, or a failure with its output."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "PARRHESIA_", "VIRTUAL_ENV"))}
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def test_an_installed_wheel_serves_the_pages_and_the_desk_from_its_own_theme(installed: Path, tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    _run([str(installed / "parrhesia"), "init", "--instance", str(instance)], cwd=tmp_path)

    answer = json.loads(_run([str(installed / "python"), "-I", "-c", _FETCH_PAGES, str(instance)], cwd=tmp_path))
    pages = answer["pages"]

    env_dir = installed.parent
    assert Path(answer["package"]).is_relative_to(env_dir)  # the wheel's parrhesia, not the source tree's
    assert Path(answer["themes"]).is_relative_to(env_dir)
    assert {path: page["status"] for path, page in pages.items()} == dict.fromkeys(pages, 200)
    assert "Report corruption safely and anonymously" in pages["/"]["body"]
    assert "/static/style.css" in pages["/"]["body"]
    assert pages["/static/style.css"]["body"] == (DEFAULT_THEME / "static" / "style.css").read_text(encoding="utf-8")
    assert pages["/static/vendor/libsodium-wrappers.js"]["body"] == VENDOR.read_text(encoding="utf-8")
    assert "Log in to the desk" in pages["/desk/login"]["body"]
    assert 'name="password"' in pages["/desk/login"]["body"]
