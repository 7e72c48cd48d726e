"""A real server: one worker's death never loses the upload another worker is receiving.

Two gunicorn workers. While a slow upload is half-way into one of them, the other is
SIGKILLed (as an OOM kill or a timeout would); gunicorn starts a new worker, whose
start-up clean-up removes the temporary of a process that is really gone and leaves the
live upload's alone. A second start-up in another process does the same. The upload
then completes, its parts committed and its blobs in place.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import Attachment, ServedInstance, WebClient, add_reader
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.config import load_config
from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.db import make_engine
from parrhesia.storage.models import Part

pytestmark = pytest.mark.server

_OWNER = re.compile(r"^[A-Za-z0-9_-]+\.[0-9a-f]{8}-(\d+)\.[0-9a-f]{8}\.part$")
_CRASHED = """
import os, sys
from pathlib import Path
from parrhesia.storage.blobs import BlobStore
pending = BlobStore(Path(sys.argv[1])).create("crashed-upload-0001")
pending.file.write(b"half")
pending.file.flush()
os._exit(9)
"""


@pytest.fixture
def served(instance_dir: Path, tmp_path: Path) -> Iterator[ServedInstance]:
    with ServedInstance(instance_dir, tmp_path / "server", workers=2) as server:
        for body_id in ("integrity-office", "ombudsman"):
            add_reader(server, body_id)
        yield server


def _wait(what: str, condition: object, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting until {what}"
        time.sleep(0.05)


def test_killing_another_worker_leaves_a_slow_upload_to_finish(served: ServedInstance, instance_dir: Path) -> None:
    blobs = served.instance_dir / "blobs"
    pending = blobs / ".tmp"
    # A process that died mid-write, long before: its temporary is fair game.
    subprocess.run([sys.executable, "-c", _CRASHED, str(blobs)], check=False)  # noqa: S603
    crashed = [p for p in pending.glob("crashed-upload-0001.*.part")]
    assert len(crashed) == 1
    seen: dict[str, object] = {}

    def uploads() -> list[Path]:
        return [p for p in pending.glob("*.part") if p not in crashed]

    def kill_the_other_worker() -> None:
        _wait("the server writes the upload's ciphertext",
              lambda: sum(p.stat().st_size for p in uploads()) >= 1024 * 1024)
        live = uploads()
        owners = set()
        for path in live:
            match = _OWNER.match(path.name)
            assert match, path.name
            owners.add(int(match[1]))
        workers = served.worker_pids()
        assert len(owners) == 1 and owners <= set(workers), (owners, workers)
        (victim,) = set(workers) - owners
        os.kill(victim, signal.SIGKILL)
        # gunicorn starts another worker; its start-up clean-up runs: the dead process's
        # temporary goes, the live upload's stay.
        _wait("a new worker has started", lambda: len(set(served.worker_pids()) - set(workers)) == 1)
        _wait("the new worker's start-up removes the crashed process's temporary",
              lambda: not crashed[0].exists())
        assert all(p.exists() for p in live), "a worker's start-up removed another worker's upload"
        assert BlobStore(blobs).remove_stale_temporaries() == 0  # a start-up in yet another process
        assert all(p.exists() for p in live)
        seen["owner"] = owners.pop()
        seen["live"] = live

    content = os.urandom(64 * 1024) * 96  # 6 MiB, arriving in two halves
    response, codename = WebClient(served.url).submit(
        "a slow upload while another worker dies",
        [Attachment("evidence.bin", content)],
        pause_after=3 * 1024 * 1024,
        on_pause=kill_the_other_worker,
    )

    assert seen, "the upload never paused"
    assert response.status == 200 and codename, response.text[:2000]
    assert seen["owner"] in served.worker_pids(), "the worker receiving the upload lived on"
    assert not any(pending.iterdir()), "pending blobs were left behind after the upload finished"
    engine = make_engine(load_config(instance_dir).database_url)
    try:
        with Session(engine) as db:
            names = db.scalars(select(Part.blob)).all()
    finally:
        engine.dispose()
    assert len(names) >= 2  # the message and the attachment
    store = BlobStore(blobs)
    assert all(store.path_for(name).is_file() for name in names)
    assert max(store.size(name) for name in names) > len(content)
