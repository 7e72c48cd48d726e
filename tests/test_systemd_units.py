"""The shipped systemd units are valid, run the command deploy/README.md installs, and
keep their hardening (checked with systemd-analyze, in a root of their own)."""

from __future__ import annotations

import re
import shutil
import subprocess  # nosec B404: runs systemd-analyze on the shipped files
from pathlib import Path

import pytest

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNITS = sorted(p.name for p in DEPLOY.iterdir() if p.suffix in (".service", ".timer"))
SYSTEM_UNITS = Path("/lib/systemd/system")


def test_every_unit_runs_the_parrhesia_the_readme_installs() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    (venv,) = set(re.findall(r"python3 -m venv (\S+)", readme))
    for unit in UNITS:
        for command in re.findall(r"^ExecStart=(\S+)", (DEPLOY / unit).read_text(encoding="utf-8"), re.M):
            assert command == f"{venv}/bin/parrhesia", (unit, command)


def test_the_services_keep_their_hardening() -> None:
    for unit in (u for u in UNITS if u.endswith(".service")):
        text = (DEPLOY / unit).read_text(encoding="utf-8")
        for line in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes", "ProtectHome=yes"):
            assert line in text, (unit, line)
    main = (DEPLOY / "parrhesia.service").read_text(encoding="utf-8")
    assert "LimitCORE=0" in main and "MemoryDenyWriteExecute=yes" in main and "MemorySwapMax=0" in main


def test_systemd_analyze_verifies_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None or not SYSTEM_UNITS.is_dir():
        pytest.skip("systemd-analyze is not on this machine (Debian: apt-get install systemd)")
    # A root with the system's own units, the shipped ones, and the program they run.
    shutil.copytree(SYSTEM_UNITS, tmp_path / "usr/lib/systemd/system", symlinks=True)
    units = tmp_path / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(DEPLOY / unit, units / unit)
    program = tmp_path / "opt/parrhesia/venv/bin/parrhesia"
    program.parent.mkdir(parents=True)
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    done = subprocess.run(  # nosec B603: a fixed command on the shipped files
        [analyze, "verify", f"--root={tmp_path}", "--man=no", *UNITS],
        cwd=units, capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0 and not (done.stdout + done.stderr).strip(), done.stdout + done.stderr
