"""The receiver: a submission's fields checked and kept, its messages and files sealed.

:func:`receive_submission` runs the body through :class:`~parrhesia.upload.multipart.MultipartParser`
and hands every message, file and content answer to a :class:`~parrhesia.crypto.PartWriter`
on the encrypting thread. The CSRF token must arrive before any content; on any error the
threads are stopped and every pending blob is discarded.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from flask import Request, current_app
from flask_babel import gettext as _
from flask_wtf.csrf import ValidationError, validate_csrf
from werkzeug.exceptions import BadRequest, LengthRequired, RequestEntityTooLarge, RequestTimeout
from werkzeug.http import parse_options_header

from parrhesia.crypto import PartWriter
from parrhesia.storage.blobs import BlobStore, PendingBlob
from parrhesia.upload.body import BodyTooSlow, _body_blocks, _body_consumed, discard_briefly
from parrhesia.upload.bounds import DiskFull, UploadBounds, UploadsBusy
from parrhesia.upload.multipart import MAX_PARTS, MultipartParser, PartData, PartStart, TooManyParts
from parrhesia.upload.pipeline import _Pipeline, _Writeback, _WriteBehind

FIELD_LIMIT = 4096  # bytes for a plain form field (CSRF token, routing choices)
ANSWER_LIMIT = 64 * 1024  # bytes for one answer to a content question
ENCRYPTED_FIELDS = frozenset({"message"})
UPLOAD_BOUNDS = "parrhesia.upload_bounds"  # the app's UploadBounds, in app.extensions


class SubmissionRejected(BadRequest):
    """A submission refused as a whole; nothing of it was stored."""


class SubmissionTooLarge(RequestEntityTooLarge):
    """A submission over the instance's limit; nothing of it was stored."""


class LengthRequiredForUpload(LengthRequired):
    """A submission sent without Content-Length (chunked): refused before it is read."""

    def __init__(self) -> None:
        super().__init__(_("The form was not sent as expected. Please use the form on this site."))


class SubmissionTooSlow(RequestTimeout):
    """A body that stalled or crawled (:class:`~parrhesia.upload.body.BodyTooSlow`); nothing was stored."""


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
    form_token: str | None = None  # the form's (valid) CSRF token, spent once it is stored

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
    before_content: Callable[[Mapping[str, list[str]]], None] | None = None,
) -> Submission:
    """Parse and encrypt a multipart submission; raise SubmissionRejected or SubmissionTooLarge.

    Fields named in ``content_fields`` (a questionnaire's content questions) are never
    kept in ``fields``: their answers are encrypted together as one part of kind
    "answers" (a JSON object), like the message. ``before_content`` is called once
    with the plain fields received so far, after the CSRF token and before the first
    byte of content is taken (the work challenge, parrhesia.web.source.work): what it
    raises refuses the submission with nothing stored.
    """
    mimetype, options = parse_options_header(request.headers.get("Content-Type", ""))
    boundary = options.get("boundary", "")
    if mimetype != "multipart/form-data" or not _valid_boundary(boundary):
        raise SubmissionRejected(_("The form was not sent as expected. Please use the form on this site."))
    if request.content_length is None:
        # A browser always sends a form's length; a chunked body could not be bounded in
        # time (the idle and minimum-rate bounds need the connection: upload.body).
        raise LengthRequiredForUpload()
    if request.content_length > limit:
        raise SubmissionTooLarge(_too_large(limit))

    slots: UploadBounds | None = current_app.extensions.get(UPLOAD_BOUNDS)  # absent: no bounds (tools, tests)
    if slots is not None and not slots.room_for(blobs.root, request.content_length or limit):
        discard_briefly(request)
        raise DiskFull()
    if slots is not None and not slots.take():
        discard_briefly(request)
        raise UploadsBusy()
    try:
        receiver = _Receiver(blobs, report_id, report_public_key, content_fields, before_content)
        try:
            _run(receiver, request, boundary.encode("latin-1"), limit, slots)
            receiver.content_ends()
            receiver.seal_answers()
            receiver.finish()
        except BaseException:
            receiver.abort()
            raise
        finally:
            _body_consumed(request)
    finally:
        if slots is not None:
            slots.give_back()
    return receiver.submission


def _too_large(limit: int) -> str:
    return _(
        "Your submission is larger than this instance accepts (%(megabytes)s MB in total). "
        "Nothing was stored. Please send fewer or smaller files.",
        megabytes=limit // (1000 * 1000),
    )


def _malformed() -> SubmissionRejected:
    return SubmissionRejected(_("The upload was interrupted or malformed. Nothing was stored; please try again."))


def _run(receiver: _Receiver, request: Request, boundary: bytes, limit: int, bounds: UploadBounds | None) -> None:
    parser = MultipartParser(boundary, max_parts=MAX_PARTS)
    received = 0
    try:
        blocks = _body_blocks(request) if bounds is None else _body_blocks(
            request, idle=bounds.idle_seconds, min_rate=bounds.min_rate)
        for block in blocks:
            received += len(block)
            if received > limit:
                raise SubmissionTooLarge(_too_large(limit))
            for event in parser.feed(block):
                receiver.handle(event)
            if parser.complete:
                return  # the epilogue, if any, is left unread
        parser.finish()
    except BodyTooSlow:
        discard_briefly(request, seconds=1.0)  # a client still sending sees the page, not a reset
        raise SubmissionTooSlow(_("The upload stalled or arrived too slowly, so it was stopped. Nothing was "
                                  "stored; please try again, with fewer or smaller files if it happens again.")) from None
    except TooManyParts:
        raise SubmissionRejected(_("The form has too many parts.")) from None
    except ValueError:  # MultipartError, or a field or part the receiver cannot take
        raise _malformed() from None


def _valid_boundary(boundary: str) -> bool:
    """RFC 2046: 1 to 70 characters; we refuse only what could confuse the parser."""
    return 0 < len(boundary) <= 200 and boundary.isascii() and "\r" not in boundary and "\n" not in boundary


class _Receiver:
    """State of one multipart stream: the current part and what has been collected."""

    def __init__(
        self, blobs: BlobStore, report_id: str, report_public_key: bytes, content_fields: frozenset[str],
        before_content: Callable[[Mapping[str, list[str]]], None] | None = None,
    ) -> None:
        self.blobs = blobs
        self.before_content = before_content
        self.content_fields = content_fields
        self.answers: dict[str, str] = {}
        self.report_id = report_id
        self.report_public_key = report_public_key
        self.submission = Submission()
        self.csrf_checked = False
        self.field_name: str | None = None
        self.field_value = bytearray()
        self.pipeline = _Pipeline("parrhesia-encrypt")  # encrypts, hands batches to `writes`
        self.writes = _Pipeline("parrhesia-write")  # writes ciphertext to the pending blobs
        self.writeback = _Writeback()  # starts writing them out to disk
        # The part being received: its kind and metadata; its writer and blob exist
        # from its first content byte (an empty part leaves nothing behind).
        self.part_meta: tuple[str, dict[str, object]] | None = None
        self.open: _OpenPart | None = None

    def handle(self, event: PartStart | PartData) -> None:
        if isinstance(event, PartData):
            self._data(event)
        elif event.filename is None:
            if event.name in ENCRYPTED_FIELDS:
                self._start_part("message", {"kind": "message"})
            else:
                self.field_name = event.name
                self.field_value.clear()
        elif event.filename:
            content_type = event.headers.get("Content-Type", "application/octet-stream")
            meta: dict[str, object] = {"kind": "attachment", "filename": event.filename, "content_type": content_type}
            self._start_part("attachment", meta)
        else:
            self.field_name = None  # an empty file input: nothing chosen

    def _start_part(self, kind: str, meta: dict[str, object]) -> None:
        self._content_starts()
        self.part_meta = (kind, meta)
        self.field_name = None

    def _open_part(self, kind: str, meta: dict[str, object]) -> _OpenPart:
        part_id = secrets.token_hex(16)
        pending = self.blobs.create(part_id)
        part = EncryptedPart(part_id=part_id, kind=kind, blob=pending)
        self.submission.parts.append(part)
        out = _WriteBehind(pending, self.writes, self.writeback)
        return _OpenPart(part, PartWriter(out, self.report_public_key, self.report_id, part_id, meta), out)

    def _data(self, event: PartData) -> None:
        if self.part_meta is not None:
            if event.data:
                if self.open is None:
                    self.open = self._open_part(*self.part_meta)
                self.open.part.plaintext_size += len(event.data)
                self.pipeline.call(self.open.write, event.data)
            if not event.more:
                if self.open is not None:
                    self.pipeline.call(self.open.close)
                self.part_meta = self.open = None
        elif self.field_name is not None:
            self.field_value += event.data
            limit = ANSWER_LIMIT if self.field_name in self.content_fields else FIELD_LIMIT
            if len(self.field_value) > limit:
                raise SubmissionRejected(_("A form field is too long."))
            if not event.more:
                self._finish_field(self.field_name, self.field_value.decode("utf-8", errors="replace"))

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
            self.submission.form_token = value
        elif name in self.content_fields:
            self._content_starts()
            if value.strip():
                self.answers[name] = value
        else:
            self.submission.fields.setdefault(name, []).append(value)

    def _content_starts(self) -> None:
        """Content may be taken only after the CSRF token, and once ``before_content``
        has passed the fields before it."""
        if not self.csrf_checked:
            raise SubmissionRejected(
                _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
            )
        if self.before_content is not None:
            check, self.before_content = self.before_content, None
            check(self.submission.fields)

    def content_ends(self) -> None:
        """A form that carried no content still passes ``before_content`` (it is refused
        later for having nothing to store, but never without its checks)."""
        if self.before_content is not None:
            self._content_starts()

    def seal_answers(self) -> None:
        """Encrypt the content answers as one part; plaintext answers leave memory."""
        if not self.answers:
            return
        sink = self._open_part("answers", {"kind": "answers", "content_type": "application/json"})
        data = json.dumps(self.answers, ensure_ascii=False, sort_keys=True).encode("utf-8")
        self.answers.clear()
        sink.part.plaintext_size = len(data)
        self.pipeline.call(sink.write, data)
        self.pipeline.call(sink.close)

    def finish(self) -> None:
        """Wait until every part is encrypted and written; raise the first error."""
        self.pipeline.finish()  # the encrypting thread has ended: no more batches come
        self.writes.finish()
        self.writeback.stop()

    def abort(self) -> None:
        self.pipeline.cancel()  # the encrypting thread has ended: no more batches come
        self.writes.cancel()
        self.writeback.stop()  # no thread uses the files any more: they can go
        self.part_meta = self.open = None
        self.submission.discard()


@dataclass
class _OpenPart:
    """A part being encrypted: its methods run on the encrypting thread."""

    part: EncryptedPart
    writer: PartWriter
    out: _WriteBehind

    def write(self, data: memoryview | bytes) -> None:
        self.writer.write(data)

    def close(self) -> None:
        self.part.ciphertext_size = self.writer.close()
        self.out.flush()
