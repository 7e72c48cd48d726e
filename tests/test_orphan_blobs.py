"""No upload lost to another process's restart, and no blob left behind by a kill.

A temporary file belongs to the process writing it: start-up removes only those whose
owner is provably gone (or over a day old). A kill between a blob's rename and the
database commit leaves an orphan blob; ``parrhesia tick`` collects it once it is older
than the grace period, never a fresh one (a submission about to commit) nor a blob any
part names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.storage.blobs import TEMPORARY_MAX_AGE, BlobStore
from parrhesia.storage.models import Part
from parrhesia.storage.orphans import ORPHAN_GRACE, collect_orphans
from parrhesia.testing import SubmittedReport

NAME = "abcdefgh12345678"
HOUR = 3600.0

# A writer in a process of its own: it opens a pending blob, says so, and waits.
_WRITER = """
import sys, time
from pathlib import Path
from parrhesia.storage.blobs import BlobStore
pending = BlobStore(Path(sys.argv[1])).create(sys.argv[2])
pending.file.write(b"half an upload")
pending.file.flush()
print(pending.temp_path, flush=True)
time.sleep(60)
"""


def _writer(store: BlobStore, name: str = NAME) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(  # noqa: S603 - this Python
        [sys.executable, "-c", _WRITER, str(store.root), name], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_another_live_process_s_temporary_survives_a_start_up_until_it_is_killed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    process, temp = _writer(store)
    try:
        assert f"-{process.pid}." in temp.name, "the temporary names its owner"
        assert BlobStore(store.root).remove_stale_temporaries() == 0  # a second worker starts
        assert temp.exists()
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        assert BlobStore(store.root).remove_stale_temporaries() == 1  # its owner is gone
        assert not temp.exists()
    finally:
        process.kill()
        process.wait(timeout=10)


def test_own_temporary_survives_and_an_over_a_day_old_one_goes_whoever_owns_it(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    mine = store.create(NAME)
    assert store.remove_stale_temporaries() == 0 and mine.temp_path.exists()
    _age(mine.temp_path, TEMPORARY_MAX_AGE + 60)
    assert store.remove_stale_temporaries() == 1 and not mine.temp_path.exists()


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    process.wait(timeout=30)
    return process.pid


@pytest.mark.parametrize("name", [
    f"{NAME}.0123abcd.part",  # an earlier release's: no owner named
    f"{NAME}.ffffffff-DEAD.0123abcd.part",  # another host's process: its pid means nothing here
    f"{NAME}.notours",  # not a name this store makes
])
def test_a_temporary_of_unknown_owner_goes_only_when_over_a_day_old(tmp_path: Path, name: str) -> None:
    store = BlobStore(tmp_path / "blobs")
    name = name.replace("DEAD", str(_dead_pid()))
    other = store.tmp_dir / (name if name.endswith(".part") else name + ".part")
    other.write_bytes(b"half")
    assert store.remove_stale_temporaries() == 0 and other.exists()
    _age(other, TEMPORARY_MAX_AGE + 60)
    assert store.remove_stale_temporaries() == 1 and not other.exists()


def test_a_blob_s_age_counts_from_its_rename_however_long_the_upload_took(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    pending = store.create(NAME)
    pending.file.write(b"slow")
    pending.file.flush()
    _age(pending.temp_path, 3 * HOUR)  # written hours ago, renamed now
    pending.commit()
    assert time.time() - store.path_for(NAME).stat().st_mtime < 60


def _blob(store: BlobStore, name: str, age: float) -> Path:
    with store.writing(name) as pending:
        pending.file.write(b"ciphertext")
    path = store.path_for(name)
    _age(path, age)
    return path


def _tick(app: Flask) -> str:
    folder = str(app.extensions["parrhesia.instance"].config.path)
    result = CliRunner().invoke(main, ["tick", "--instance", folder])
    assert result.exit_code == 0, result.output
    return result.output


def test_tick_collects_old_orphans_and_keeps_fresh_ones_pending_ones_and_every_part_s(
    app: Flask, submitted_report: SubmittedReport
) -> None:
    instance = app.extensions["parrhesia.instance"]
    store = instance.blobs
    with Session(instance.engine) as db:
        named = set(db.scalars(select(Part.blob)).all())
    assert named
    for name in named:  # every part's blob (message, answers, ...) looks old: the rows keep them
        _age(store.path_for(name), 30 * 24 * HOUR)
    old = _blob(store, "orphan-old-0000001", ORPHAN_GRACE + 120)
    fresh = _blob(store, "orphan-fresh-00001", ORPHAN_GRACE - 120)  # between rename and commit
    rewriting = _blob(store, "orphan-pending-001", ORPHAN_GRACE + 120)
    again = store.create("orphan-pending-001")  # being written again right now

    output = _tick(app)

    assert "collected 1 orphan blob(s)" in output, output
    assert not old.exists()
    assert fresh.exists() and rewriting.exists()
    assert all(store.path_for(name).exists() for name in named)
    again.discard()  # its writer gave up: the old blob is an orphan like any other
    assert "collected 1 orphan blob(s)" in _tick(app) and not rewriting.exists()
    assert "orphan blob" not in _tick(app)  # nothing more to collect: no line
    assert fresh.exists() and all(store.path_for(name).exists() for name in named)


def test_tick_collects_what_a_kill_between_rename_and_commit_left(
    app: Flask, submitted_report: SubmittedReport, tmp_path: Path
) -> None:
    """A process SIGKILLed right after renaming a submission's blobs, before its commit."""
    instance = app.extensions["parrhesia.instance"]
    store = instance.blobs
    before = {blob.name for blob in store.stored()}
    killed = """
import os, signal, sys
from parrhesia.web.app import create_app
from parrhesia.testing import submit_report
from parrhesia.upload.receiver import Submission
renamed = Submission.commit
def commit(self):
    renamed(self)
    os.kill(os.getpid(), signal.SIGKILL)  # killed between the rename and the database commit
Submission.commit = commit
submit_report(create_app(sys.argv[1], {"TESTING": True}).test_client(), "killed in the window",
              files=[("evidence.bin", os.urandom(4096))])
"""
    done = subprocess.run([sys.executable, "-c", killed, str(instance.config.path)],  # noqa: S603
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == -signal.SIGKILL, done.stderr
    orphans = {blob.name for blob in store.stored()} - before
    assert len(orphans) >= 2, "the message and the attachment were renamed into place"
    with Session(instance.engine) as db:
        assert not db.scalars(select(Part).where(Part.blob.in_(orphans))).all()

    assert "orphan blob" not in _tick(app)  # within the grace period: it could be about to commit
    assert all(store.path_for(name).exists() for name in orphans)
    for name in orphans:
        _age(store.path_for(name), ORPHAN_GRACE + 60)
    assert f"collected {len(orphans)} orphan blob(s)" in _tick(app)
    assert not any(store.path_for(name).exists() for name in orphans)
    assert {blob.name for blob in store.stored()} == before


def test_collector_looks_names_up_in_batches(
    app: Flask, submitted_report: SubmittedReport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("parrhesia.storage.orphans._BATCH", 2)
    instance = app.extensions["parrhesia.instance"]
    with Session(instance.engine) as db:
        named = set(db.scalars(select(Part.blob)).all())
        for name in named:
            _age(instance.blobs.path_for(name), 2 * ORPHAN_GRACE)
        olds = [_blob(instance.blobs, f"orphan-old-000000{i}", 2 * ORPHAN_GRACE) for i in range(5)]
        result = collect_orphans(instance.blobs, db)
    assert sorted(result.collected) == sorted(p.name for p in olds)
    assert not any(p.exists() for p in olds) and all(instance.blobs.path_for(n).exists() for n in named)
