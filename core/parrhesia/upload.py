"""Receiving a submission: multipart parsing that encrypts as it parses.

Werkzeug's form parser spools large files to plaintext temporary files. Submission
routes instead feed the raw request stream through Werkzeug's incremental
``MultipartDecoder`` and hand each file (and the message text) straight to a
:class:`~parrhesia.crypto.PartWriter` writing into a pending blob. Memory stays at a
few chunks whatever the upload size; plaintext exists only in memory, one chunk at a
time; the size limit is enforced on bytes as they arrive.

The CSRF token must arrive before any message or file (browsers send fields in page
order and the forms put it first), so a forged request is refused before its content
is read. On any error every pending blob is discarded: nothing is stored.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field

from flask import Request
from flask_babel import gettext as _
from flask_wtf.csrf import ValidationError, validate_csrf
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData

from parrhesia.blobs import BlobStore, PendingBlob
from parrhesia.crypto import PartWriter

__all__ = ["EncryptedPart", "Submission", "SubmissionRejected", "SubmissionTooLarge", "receive_submission"]

READ_SIZE = 1024 * 1024
FIELD_LIMIT = 4096  # bytes for a plain form field (CSRF token, routing choices)
ANSWER_LIMIT = 64 * 1024  # bytes for one answer to a content question
MAX_PARTS = 200
ENCRYPTED_FIELDS = frozenset({"message"})


class SubmissionRejected(BadRequest):
    """A submission refused as a whole; nothing of it was stored."""


class SubmissionTooLarge(RequestEntityTooLarge):
    """A submission over the instance's limit; nothing of it was stored."""


@dataclass
class EncryptedPart:
    """One message or attachment, encrypted into a pending (not yet visible) blob."""

    part_id: str
    kind: str
    blob: PendingBlob
    plaintext_size: int = 0
    ciphertext_size: int = 0


@dataclass
class Submission:
    """What a submission form delivered: small plain fields and encrypted parts."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    parts: list[EncryptedPart] = field(default_factory=list)

    def discard(self) -> None:
        for part in self.parts:
            part.blob.discard()
        self.parts.clear()

    def commit(self) -> None:
        for part in self.parts:
            part.blob.commit()


def receive_submission(
    request: Request,
    *,
    blobs: BlobStore,
    report_id: str,
    report_public_key: bytes,
    limit: int,
    content_fields: frozenset[str] = frozenset(),
) -> Submission:
    """Parse and encrypt a multipart submission; raise SubmissionRejected or SubmissionTooLarge.

    Fields named in ``content_fields`` (a questionnaire's content questions) are never
    kept in ``fields``: their answers are encrypted together as one part of kind
    "answers" (a JSON object), like the message.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not boundary:
        raise SubmissionRejected(_("The form was not sent as expected. Please use the form on this site."))
    if request.content_length is not None and request.content_length > limit:
        raise SubmissionTooLarge(_too_large(limit))

    receiver = _Receiver(blobs, report_id, report_public_key, content_fields)
    try:
        _run(receiver, request, boundary.encode("latin-1"), limit)
        receiver.seal_answers()
    except BaseException:
        receiver.abort()
        raise
    return receiver.submission


def _too_large(limit: int) -> str:
    return _(
        "Your submission is larger than this instance accepts (%(megabytes)s MB in total). "
        "Nothing was stored. Please send fewer or smaller files.",
        megabytes=limit // (1000 * 1000),
    )


def _run(receiver: _Receiver, request: Request, boundary: bytes, limit: int) -> None:
    decoder = MultipartDecoder(boundary, max_parts=MAX_PARTS)
    stream = request.stream
    received = 0
    finished = False
    while not finished:
        chunk = stream.read(READ_SIZE)
        received += len(chunk)
        if received > limit:
            raise SubmissionTooLarge(_too_large(limit))
        try:
            decoder.receive_data(chunk or None)
            event = decoder.next_event()
            while not isinstance(event, NeedData):
                if isinstance(event, Epilogue):
                    finished = True
                    break
                receiver.handle(event)
                event = decoder.next_event()
        except RequestEntityTooLarge:
            raise SubmissionRejected(_("The form has too many parts.")) from None
        except ValueError:
            raise SubmissionRejected(
                _("The upload was interrupted or malformed. Nothing was stored; please try again.")
            ) from None
        if not chunk and not finished:
            raise SubmissionRejected(
                _("The upload was interrupted or malformed. Nothing was stored; please try again.")
            )


class _Receiver:
    """State of one multipart stream: the current part and what has been collected."""

    def __init__(
        self, blobs: BlobStore, report_id: str, report_public_key: bytes, content_fields: frozenset[str]
    ) -> None:
        self.blobs = blobs
        self.content_fields = content_fields
        self.answers: dict[str, str] = {}
        self.report_id = report_id
        self.report_public_key = report_public_key
        self.submission = Submission()
        self.csrf_checked = False
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.writer: PartWriter | None = None
        self.part: EncryptedPart | None = None

    def handle(self, event: object) -> None:
        if isinstance(event, Field):
            if event.name in ENCRYPTED_FIELDS:
                self._start_part("message", {"kind": "message"})
            else:
                self.field_name = event.name
                self.field_value.clear()
        elif isinstance(event, File):
            if event.filename:
                content_type = event.headers.get("Content-Type", "application/octet-stream")
                meta = {"kind": "attachment", "filename": event.filename, "content_type": content_type}
                self._start_part("attachment", meta)
            else:
                self.field_name = None  # an empty file input: nothing chosen
        elif isinstance(event, Data):
            self._data(event)

    def _start_part(self, kind: str, meta: dict[str, object]) -> tuple[PartWriter, EncryptedPart]:
        if not self.csrf_checked:
            raise SubmissionRejected(
                _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
            )
        part_id = secrets.token_hex(16)
        pending = self.blobs.create(part_id)
        self.part = EncryptedPart(part_id=part_id, kind=kind, blob=pending)
        self.submission.parts.append(self.part)
        self.writer = PartWriter(pending.file, self.report_public_key, self.report_id, part_id, meta)
        self.field_name = None
        return self.writer, self.part

    def _data(self, event: Data) -> None:
        if self.writer is not None and self.part is not None:
            if event.data:
                self.writer.write(event.data)
            if not event.more_data:
                self._finish_part(self.writer, self.part)
        elif self.field_name is not None:
            self.field_value += event.data
            limit = ANSWER_LIMIT if self.field_name in self.content_fields else FIELD_LIMIT
            if len(self.field_value) > limit:
                raise SubmissionRejected(_("A form field is too long."))
            if not event.more_data:
                self._finish_field(self.field_name, self.field_value.decode("utf-8", errors="replace"))

    def _finish_part(self, writer: PartWriter, part: EncryptedPart) -> None:
        part.plaintext_size = writer.plaintext_size
        part.ciphertext_size = writer.close()
        if part.plaintext_size == 0:
            # An empty message box: keep nothing, not even an empty ciphertext.
            part.blob.discard()
            self.submission.parts.remove(part)
        self.writer = None
        self.part = None

    def _finish_field(self, name: str, value: str) -> None:
        self.field_name = None
        if name == "csrf_token":
            try:
                validate_csrf(value)
            except ValidationError:
                raise SubmissionRejected(
                    _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
                ) from None
            self.csrf_checked = True
        elif name in self.content_fields:
            if not self.csrf_checked:
                raise SubmissionRejected(
                    _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
                )
            if value.strip():
                self.answers[name] = value
        else:
            self.submission.fields.setdefault(name, []).append(value)

    def seal_answers(self) -> None:
        """Encrypt the content answers as one part; plaintext answers leave memory."""
        if not self.answers:
            return
        writer, part = self._start_part("answers", {"kind": "answers", "content_type": "application/json"})
        writer.write(json.dumps(self.answers, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        self.answers.clear()
        self._finish_part(writer, part)

    def abort(self) -> None:
        self.writer = None
        self.submission.discard()
