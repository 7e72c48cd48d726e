"""Sealing short texts into parts: the one "seal and store" of the server.

Texts that arrive without JavaScript (a follow-up message, a reply, a note, a
protection request) are sealed here on receipt, in memory, before anything touches a
disk. :class:`Sealing` is one transaction: each :meth:`Sealing.text` writes a
ciphertext blob and adds its part to the session; leaving the block commits the
database, and any failure rolls it back and deletes every blob written in it, so a
part is either whole (blob and row) or absent.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import date
from types import TracebackType

from nacl.public import PrivateKey
from sqlalchemy.orm import Session

from parrhesia.crypto import encrypt_bytes
from parrhesia.instance import Instance
from parrhesia.storage.models import Part, Report

__all__ = ["Sealing", "new_part_id"]


def new_part_id() -> str:
    return secrets.token_hex(16)


class Sealing:
    """``with Sealing(instance, db) as sealing: sealing.text(...)`` — commit or undo all."""

    def __init__(self, instance: Instance, db: Session) -> None:
        self.instance = instance
        self.db = db
        self.written: list[str] = []

    def __enter__(self) -> Sealing:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if error is None:
            try:
                self.db.commit()
                return
            except BaseException:
                self._undo()
                raise
        self._undo()

    def _undo(self) -> None:
        self.db.rollback()
        for name in self.written:
            self.instance.blobs.delete(name)

    def blob(self, part_id: str, ciphertext: bytes) -> None:
        """Store ciphertext made elsewhere (on a recipient's machine) under this transaction."""
        with self.instance.blobs.writing(part_id) as pending:
            pending.file.write(ciphertext)
        self.written.append(part_id)

    def text(
        self,
        report: Report,
        text: str,
        *,
        kind: str,
        author: str,
        on: date,
        recipient_id: int | None = None,
        body_id: str | None = None,
        meta: Mapping[str, object] | None = None,
    ) -> Part:
        """Seal ``text`` to the report key and add its part."""
        return self._seal(report, text, report.public_key, kind=kind, author=author, on=on,
                          recipient_id=recipient_id, body_id=body_id, meta=meta)

    def text_with_own_key(
        self,
        report: Report,
        text: str,
        *,
        kind: str,
        author: str,
        on: date,
        recipient_id: int | None = None,
        body_id: str | None = None,
    ) -> tuple[Part, PrivateKey]:
        """Seal ``text`` to a fresh keypair of its own (a note, protection details, an
        identity: parts that must not reach every holder of the report key); returns
        the part and that private key, for the caller to seal to its readers
        (:func:`parrhesia.domain.custody.seal_part_key`)."""
        part_key = PrivateKey.generate()
        part = self._seal(report, text, bytes(part_key.public_key), kind=kind, author=author, on=on,
                          recipient_id=recipient_id, body_id=body_id, meta=None)
        return part, part_key

    def _seal(
        self, report: Report, text: str, to: bytes, *, kind: str, author: str, on: date, recipient_id: int | None,
        body_id: str | None, meta: Mapping[str, object] | None,
    ) -> Part:
        part_id = new_part_id()
        blob = encrypt_bytes(text.encode("utf-8"), to, report.id, part_id, {"kind": kind, **(meta or {})})
        self.blob(part_id, blob)
        part = Part(id=part_id, report_id=report.id, kind=kind, author=author, recipient_id=recipient_id,
                    blob=part_id, size=len(blob), created_on=on, body_id=body_id)
        self.db.add(part)
        return part
