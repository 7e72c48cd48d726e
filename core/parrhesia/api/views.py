"""Routes of the recipients' JSON API (``/api/v1``).

Authorisation is decided once, in :func:`_authenticate`, for every route of the
blueprint: a bearer token identifies an active recipient, and a report is visible only
when it is routed to that recipient's body. The server hands out ciphertext and the
report key sealed to the recipient; it never decrypts anything for them.
"""

from __future__ import annotations

import base64
import re
from typing import Any

from flask import Blueprint, Response, abort, g, request, stream_with_context
from sqlalchemy import select

from parrhesia import reports
from parrhesia.crypto import encode_public_key
from parrhesia.crypto.stream import MAGIC
from parrhesia.db import get_session
from parrhesia.instance import current_instance
from parrhesia.models import Part, Recipient, Report, SealedKey

__all__ = ["bp"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_PART_ID = re.compile(r"^[0-9a-f]{32}$")
_COPY_SIZE = 1024 * 1024


@bp.before_request
def _authenticate() -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, "A recipient API token is required (Authorization: Bearer TOKEN).")
    recipient = get_session().scalar(
        select(Recipient).where(
            Recipient.token_hash == reports.token_hash(token.strip()), Recipient.active.is_(True)
        )
    )
    if recipient is None:
        abort(401, "This API token is not valid.")
    g.recipient = recipient


def _recipient() -> Recipient:
    recipient: Recipient = g.recipient
    return recipient


def _report_or_404(report_id: str) -> Report:
    report = reports.report_for_recipient(get_session(), _recipient(), report_id)
    if report is None:
        abort(404, "No such report for your body.")
    return report


def _describe(report: Report) -> dict[str, Any]:
    recipient = _recipient()
    sealed = get_session().scalar(
        select(SealedKey).where(SealedKey.report_id == report.id, SealedKey.recipient_id == recipient.id)
    )
    return {
        "id": report.id,
        "status": report.status,
        "created_on": report.created_on.isoformat(),
        "updated_on": report.updated_on.isoformat(),
        "public_key": encode_public_key(report.public_key),
        "sealed_key": base64.b64encode(sealed.sealed).decode() if sealed else None,
        "route": [b.body_id for b in report.bodies if b.role == "route"],
        "escalation": [b.body_id for b in report.bodies if b.role == "escalation"],
        "fallback_route": report.fallback_route,
        "fields": {name: [f.value for f in report.fields if f.name == name] for name in sorted({f.name for f in report.fields})},
        "clocks": [
            {"id": c.clock_id, "label": c.label, "legal_source": c.legal_source, "due_on": c.due_on.isoformat(),
             "body": c.body_id, "state": c.state}
            for c in report.clocks
        ],
        "parts": [
            {
                "id": part.id,
                "kind": part.kind,
                "author": part.author,
                "size": part.size,
                "created_on": part.created_on.isoformat(),
            }
            for part in report.parts
        ],
    }


@bp.get("/me")
def me() -> dict[str, Any]:
    recipient = _recipient()
    config = current_instance().config
    body = config.body(recipient.body_id)
    return {
        "name": recipient.name,
        "body": {"id": recipient.body_id, "name": body.name if body else recipient.body_id},
        "public_key": encode_public_key(recipient.public_key),
    }


@bp.get("/reports")
def list_reports() -> dict[str, Any]:
    return {"reports": [_describe(r) for r in reports.reports_for_recipient(get_session(), _recipient())]}


@bp.get("/reports/<report_id>")
def show_report(report_id: str) -> dict[str, Any]:
    return _describe(_report_or_404(report_id))


@bp.get("/reports/<report_id>/parts/<part_id>")
def part_ciphertext(report_id: str, part_id: str) -> Response:
    report = _report_or_404(report_id)
    part = get_session().scalar(select(Part).where(Part.report_id == report.id, Part.id == part_id))
    if part is None:
        abort(404, "No such part in this report.")
    blobs = current_instance().blobs

    def stream() -> Any:
        with blobs.open(part.blob) as handle:
            while chunk := handle.read(_COPY_SIZE):
                yield chunk

    response = Response(stream_with_context(stream()), mimetype="application/octet-stream")
    response.headers["Content-Length"] = str(blobs.size(part.blob))
    return response


@bp.put("/reports/<report_id>/replies/<part_id>")
def put_reply(report_id: str, part_id: str) -> tuple[dict[str, Any], int]:
    """Store a reply sealed on the recipient's machine (raw ciphertext body)."""
    report = _report_or_404(report_id)
    if not _PART_ID.match(part_id):
        abort(400, "A part id is 32 lowercase hexadecimal characters.")
    db = get_session()
    if db.scalar(select(Part.id).where(Part.id == part_id)) is not None:
        abort(409, "A part with this id already exists.")
    instance = current_instance()
    limit = instance.config.max_submission_bytes
    pending = instance.blobs.create(part_id)
    size = 0
    try:
        while chunk := request.stream.read(_COPY_SIZE):
            if size == 0 and not chunk.startswith(MAGIC):
                abort(400, "The body is not a Parrhesia part (wrong magic bytes).")
            size += len(chunk)
            if size > limit:
                abort(413, "The reply is larger than this instance accepts.")
            pending.file.write(chunk)
        if size == 0:
            abort(400, "The reply is empty.")
        pending.commit()
        part = reports.add_reply(db, report, _recipient(), part_id=part_id, blob=pending.name, size=size)
    except BaseException:
        pending.discard()
        raise
    return {"id": part.id, "size": part.size, "created_on": part.created_on.isoformat()}, 201
