"""A served instance takes a 200 MB upload while its memory stays far below the file size.

A tiny submission goes first: it brings in everything a submission needs once per worker
(lazy imports, and Argon2id's memory for deriving the codename's key), so that what the
big upload adds on top is measured on its own as well as the worker's absolute peak.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_support import Attachment, ServedInstance, WebClient, peak_rss_bytes

pytestmark = pytest.mark.server

UPLOAD_BYTES = 200 * 1000 * 1000
PEAK_LIMIT = 150 * 1024 * 1024
GROWTH_LIMIT = 32 * 1024 * 1024  # what the upload may add to a warmed-up worker's peak


def _generated(size: int) -> Iterator[bytes]:
    """``size`` bytes made on the fly from one random block (never held whole)."""
    block = os.urandom(1024 * 1024)
    left = size
    while left:
        piece = block[: min(left, len(block))]
        left -= len(piece)
        yield piece


def test_200_mb_upload_is_accepted_while_worker_memory_stays_far_below_it(
    instance_dir: Path, tmp_path: Path, recipient: object
) -> None:
    with ServedInstance(instance_dir, tmp_path / "server", workers=1) as served:
        (worker,) = served.worker_pids()
        warm_up, _ = WebClient(served.url).submit("a small report first")
        assert warm_up.status == 200
        before = peak_rss_bytes(worker)
        response, codename = WebClient(served.url).submit(
            "a very large file", [Attachment("archive.tar", _generated(UPLOAD_BYTES), size=UPLOAD_BYTES)]
        )
        peak = peak_rss_bytes(worker)
        assert served.worker_pids() == [worker], "the worker was replaced, so its peak says nothing"

    print(f"\nworker peak RSS: {peak / 2**20:.1f} MiB for a {UPLOAD_BYTES / 1e6:.0f} MB upload "
          f"({before / 2**20:.1f} MiB after a small submission)")
    assert response.status == 200 and codename, response.text
    stored = sum(p.stat().st_size for p in (instance_dir / "blobs").rglob("*") if p.is_file())
    assert stored >= UPLOAD_BYTES, f"only {stored} bytes of ciphertext were stored"
    assert peak < PEAK_LIMIT, f"the worker peaked at {peak / 2**20:.1f} MiB for a {UPLOAD_BYTES / 1e6:.0f} MB upload"
    assert peak - before < GROWTH_LIMIT, f"the upload added {(peak - before) / 2**20:.1f} MiB to the worker's peak"
