"""Orphan blobs: ciphertext in the store that no part names, collected by ``parrhesia tick``.

A submission (or reply, note, protection request) renames its blobs into place and only
then commits its database transaction. A process killed in between (a crash, an OOM
kill, a worker's timeout) leaves blobs no row refers to; so does a kill of
:func:`parrhesia.domain.retention.destroy` between its commit and the blobs' deletion. Every
blob is a part's ciphertext (its name is the part's :attr:`parrhesia.storage.models.Part.blob`),
so a blob that no ``parts`` row names, that is not being written, and that has been in
place longer than the grace period is an orphan and is deleted.

The grace period (an hour by default) is counted on the wall clock from the blob's
rename (:meth:`parrhesia.storage.blobs.PendingBlob.commit` sets its modification time), never
from a simulated ``--now``: a submission between its rename and its commit is never
collected. Stale temporary files (their writer gone) are removed on the same occasion.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.models import Part

__all__ = ["ORPHAN_GRACE", "OrphanResult", "collect_orphans"]

ORPHAN_GRACE = 3600.0  # seconds a blob may stay unreferenced (between rename and commit)
_BATCH = 500  # names per IN (...) query: well under SQLite's and PostgreSQL's limits


@dataclass
class OrphanResult:
    collected: list[str] = field(default_factory=list)  # blob names deleted
    temporaries: int = 0  # stale temporary files removed


def collect_orphans(
    store: BlobStore, db: Session, *, grace: float = ORPHAN_GRACE, now: float | None = None
) -> OrphanResult:
    """Delete blobs older than ``grace`` seconds that no part names; remove stale temporaries.

    Commits ``db`` (as :func:`parrhesia.domain.clock_engine.tick` does as it goes): the store is
    listed outside any transaction, and each batch of names is looked up in a short read
    transaction, ended before any file is deleted (on SQLite every transaction holds the
    write lock).
    """
    now = time.time() if now is None else now
    result = OrphanResult(temporaries=store.remove_stale_temporaries(now=now))
    cutoff = now - grace
    db.commit()
    candidates = [blob.name for blob in store.stored() if blob.mtime < cutoff]
    pending: set[str] = set()
    for start in range(0, len(candidates), _BATCH):
        batch = candidates[start:start + _BATCH]
        named = set(db.scalars(select(Part.blob).where(Part.blob.in_(batch))).all())
        db.commit()
        pending |= store.pending_names()  # listed after the store: a write begun meanwhile counts
        for name in batch:
            if name in named or name in pending:
                continue
            path = store.path_for(name)
            try:
                if path.stat().st_mtime >= cutoff:
                    continue  # rewritten since it was listed
            except FileNotFoundError:
                continue
            store.delete(name)
            result.collected.append(name)
    return result
