"""Routes of the recipients' JSON API (``/api/v1``).

Authorisation is decided once, in :func:`_authenticate`, for every route of the
blueprint: a bearer token identifies an active recipient, and a report is visible only
when it is routed to that recipient's body (:func:`parrhesia.domain.casework.open_report`).
The one exception is the OpenAPI document, which describes the API and nothing of the
instance, and is served without a token so that tools can be set up before a
recipient has one.

The server hands out ciphertext and keys sealed to the recipient; it never decrypts
anything for them. Replies and internal notes are sealed on the recipient's machine
and arrive as ciphertext; every action goes through :mod:`parrhesia.domain.casework`, so it
is audited and meets the report's clocks exactly as in the web desk. The body-key
routes are in :mod:`.custody`, the protection requests in :mod:`.protection`: the same
blueprint, so the same authorisation.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any, NoReturn

from flask import Blueprint, Response, abort, g, request
from sqlalchemy import select

from parrhesia.crypto import SEALED_REPORT_KEY_SIZE, encode_public_key, fingerprint
from parrhesia.crypto.stream import MAGIC
from parrhesia.domain import casework, custody, reports
from parrhesia.domain.casework import CaseworkError, ReportNotFound
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import current_host
from parrhesia.instance import current_instance
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Part, Recipient, Report
from parrhesia.upload.sealed_part import NotAPart, is_whole_part
from parrhesia.web import evidence_record
from parrhesia.web.api.openapi import document as openapi_document
from parrhesia.web.ciphertext import ciphertext_response
from parrhesia.web.security import storable_text

__all__ = ["bp", "NOTE_LIMIT", "JSON_LIMIT"]

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_PART_ID = re.compile(r"^[0-9a-f]{32}$")
# JSON request bodies are read into memory, so they are small by design: a note is
# text (its ciphertext, base64-encoded, must fit NOTE_LIMIT); anything else is a few
# fields and sealed keys (about 110 bytes per recipient).
NOTE_LIMIT = 1024 * 1024
JSON_LIMIT = 256 * 1024
_TRUE = ("1", "true", "yes")
_FALSE = ("", "0", "false", "no")
_PUBLIC_ENDPOINTS = frozenset({"api.openapi"})


# ---------------------------------------------------------------------------
# Authorisation and errors (once, for every route)
# ---------------------------------------------------------------------------



def _day(report: Report) -> date:
    """Today where the report's deadlines are counted: the day every casework action is dated."""
    return report_day(current_instance().config, report)

@bp.before_request
def _authenticate() -> None:
    if request.endpoint in _PUBLIC_ENDPOINTS:
        return
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


@bp.errorhandler(CaseworkError)
def _casework_refused(error: CaseworkError) -> tuple[dict[str, str], int]:
    if isinstance(error, ReportNotFound):
        return {"error": "Not Found", "message": str(error)}, 404
    return {"error": "Bad Request", "message": str(error)}, 400


def _recipient() -> Recipient:
    recipient: Recipient = g.recipient
    return recipient


def _report_or_404(report_id: str) -> Report:
    """The report if routed to the recipient's body (access is not audited here)."""
    return casework.open_report(get_session(), _recipient(), report_id, audit_open=False)


def _json_body(limit: int = JSON_LIMIT) -> dict[str, Any]:
    """The request's JSON object, read with a size limit (never an unbounded read)."""
    if request.content_length is not None and request.content_length > limit:
        _too_large()
    raw = request.stream.read(limit + 1)
    if len(raw) > limit:
        _too_large()
    try:
        data = json.loads(raw or b"{}")
    except (ValueError, UnicodeDecodeError, RecursionError):
        abort(400, "The request body is not valid JSON.")
    if not isinstance(data, dict):
        abort(400, "The request body must be a JSON object.")
    if not _storable(data):
        abort(400, "The request body contains a NUL character or a lone surrogate.")
    return data


def _storable(value: Any) -> bool:
    """Every string in a JSON value (keys included) can be stored (security.storable_text)."""
    if isinstance(value, str):
        return storable_text(value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def _too_large() -> NoReturn:
    abort(413, "The request body is larger than this route accepts.")


def _text(data: Mapping[str, Any], name: str, *, required: bool = True) -> str:
    value = data.get(name)
    if value is None and not required:
        return ""
    if not isinstance(value, str):
        abort(400, f'"{name}" is required and must be a string.')
    return value


def _base64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        abort(400, f"{what} must be a base64 string.")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        abort(400, f"{what} is not valid base64.")


def _sealed_key(data: Mapping[str, Any], *, required: bool) -> tuple[int, bytes] | None:
    """``"sealed_key"`` (base64, 80 bytes) with ``"generation"`` (the body key's)."""
    if data.get("sealed_key") is None and not required:
        return None
    key = _base64(data.get("sealed_key"), '"sealed_key"')
    if len(key) != SEALED_REPORT_KEY_SIZE:
        abort(400, f'"sealed_key" is not a sealed key ({SEALED_REPORT_KEY_SIZE} bytes).')
    generation = data.get("generation")
    if not isinstance(generation, int) or isinstance(generation, bool) or generation < 1:
        abort(400, '"generation" (the body key generation sealed to) is required and must be a positive integer.')
    return generation, key


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flag(name: str) -> bool:
    value = request.args.get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    abort(400, f"?{name}= takes 1 or 0.")


def _new_part_id(part_id: Any) -> str:
    if not isinstance(part_id, str) or not _PART_ID.match(part_id):
        abort(400, "A part id is 32 lowercase hexadecimal characters.")
    if get_session().scalar(select(Part.id).where(Part.id == part_id)) is not None:
        abort(409, "A part with this id already exists.")
    return part_id


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------


def _describe(report: Report) -> dict[str, Any]:
    recipient = _recipient()
    mine = custody.sealed_for(get_session(), recipient, report)

    def key(holder: str, part_id: str | None = None) -> dict[str, Any]:
        found = mine.get((holder, part_id))
        return {"sealed_key": _b64(found.sealed) if found else None,
                "generation": found.generation if found else None}

    report_key = key("body")
    described = evidence_record.facts(report)
    return {
        **described,
        # The report key sealed to the body key of this generation (see GET /keyring);
        # generation null: sealed to this recipient's own key (format v1).
        "sealed_key": report_key["sealed_key"],
        "generation": report_key["generation"],
        "clocks": [
            {"id": c.clock_id, "label": c.label, "legal_source": c.legal_source, "due_on": c.due_on.isoformat(),
             "body": c.body_id, "state": c.state, "met_by": c.met_by, "pausable": c.pausable,
             "extendable_to_months": c.extendable_to_months}
            for c in casework.visible_clocks(report, recipient)
        ],
        "parts": [
            {
                "id": part.id,
                "kind": part.kind,
                "author": part.author,
                "size": part.size,
                "created_on": part.created_on.isoformat(),
                # A note has its own key, sealed to its body's key.
                **(key("note", part.id) if part.kind == "note" else {}),
            }
            for part in casework.visible_parts(report, recipient)
        ],
    }


@bp.get("/openapi.json")
def openapi() -> dict[str, Any]:
    """The OpenAPI document: public, like the source code it is generated from."""
    return openapi_document()


@bp.get("/me")
def me() -> dict[str, Any]:
    return evidence_record.recipient_facts(_recipient())


@bp.get("/bodies/<body_id>/recipients")
def body_recipients(body_id: str) -> dict[str, Any]:
    """The active recipients of a body, their public keys, and the body's key (to seal a
    transfer to it, or to vouch for a colleague).

    Public keys are public: sources are shown them (as fingerprints) before sending.
    """
    body = current_host().directory.get(body_id)
    if body is None:
        abort(404, "No such body in the directory.")
    db = get_session()
    holders = reports.recipients_of(db, [body_id])
    key = custody.current_key(db, body_id)
    granted = {g.recipient_id for g in key.grants} if key else set()
    return {
        "body": {"id": body_id, "name": body.name},
        "body_key": {"generation": key.generation, "public_key": encode_public_key(key.public_key),
                     "fingerprint": fingerprint(key.public_key)} if key else None,
        "recipients": [{"id": r.id, "name": r.name, "public_key": encode_public_key(r.public_key),
                        "holds_body_key": r.id in granted} for r in holders],
    }


@bp.get("/reports")
def list_reports() -> dict[str, Any]:
    return {"reports": [_describe(r) for r in reports.reports_for_recipient(get_session(), _recipient())]}


@bp.get("/reports/<report_id>")
def show_report(report_id: str) -> dict[str, Any]:
    """One report; recorded in the audit log as an "open" (and marks it read)."""
    return _describe(casework.open_report(get_session(), _recipient(), report_id))


@bp.get("/reports/<report_id>/parts/<part_id>")
def part_ciphertext(report_id: str, part_id: str) -> Response:
    """A part's ciphertext, streamed; each download is recorded in the audit log."""
    report = _report_or_404(report_id)
    recipient = _recipient()
    try:
        part = casework.download_part(get_session(), recipient, report, part_id)
    except ReportNotFound as missing:
        abort(404, str(missing))
    return ciphertext_response(part.blob)


@bp.get("/reports/<report_id>/audit")
def report_audit(report_id: str) -> dict[str, Any]:
    """The report's record for an evidence package (read-only, not itself recorded): its
    audit entries with their hashes and the chain's head, every body's role with its
    reason (route, exclusions, recusals, transfers), its escalations and its clocks."""
    return evidence_record.record(get_session(), _report_or_404(report_id), _recipient())


# ---------------------------------------------------------------------------
# Casework
# ---------------------------------------------------------------------------


@bp.put("/reports/<report_id>/replies/<part_id>")
def put_reply(report_id: str, part_id: str) -> tuple[dict[str, Any], int]:
    """Store a reply sealed on the recipient's machine (raw ciphertext body).

    ``?feedback=1`` marks it as the feedback the law requires (it meets the report's
    feedback clocks, e.g. Directive 2019/1937 Art 9(1)(f)).
    """
    report = _report_or_404(report_id)
    feedback = _flag("feedback")
    _new_part_id(part_id)
    try:
        part = casework.receive_reply(current_instance(), get_session(), _recipient(), report, part_id=part_id,
                                      stream=request.stream, feedback=feedback, on=_day(report))
    except NotAPart as problem:
        abort(problem.status, str(problem))
    return {"id": part.id, "size": part.size, "created_on": part.created_on.isoformat(), "feedback": feedback}, 201


@bp.post("/reports/<report_id>/acknowledge")
def acknowledge(report_id: str) -> dict[str, Any]:
    """Acknowledge receipt: meets the report's acknowledgement clocks."""
    report = _report_or_404(report_id)
    casework.acknowledge(get_session(), _recipient(), report, on=_day(report))
    return _describe(report)


@bp.post("/reports/<report_id>/status")
def set_status(report_id: str) -> dict[str, Any]:
    report = _report_or_404(report_id)
    status = _text(_json_body(), "status")
    casework.set_status(get_session(), _recipient(), report, status, current_host().statuses, on=_day(report))
    return _describe(report)


@bp.post("/reports/<report_id>/notes")
def add_note(report_id: str) -> tuple[dict[str, Any], int]:
    """An internal note, sealed on the recipient's machine to their body only.

    The client makes a keypair for the note, encrypts the text to its public key (the
    part format, ``{"kind": "note"}``), and seals the note's private key to its body's
    current key (``sealed_key`` and ``generation``; ``GET /keyring``), so every
    present and future member reads it, never the source or another body. The server
    never sees the text.
    """
    report = _report_or_404(report_id)
    data = _json_body(NOTE_LIMIT * 4 // 3 + JSON_LIMIT)
    part_id = _new_part_id(data.get("id"))
    blob = _base64(data.get("ciphertext"), '"ciphertext"')
    if not blob.startswith(MAGIC):
        abort(400, "The ciphertext is not a Parrhesia part (wrong magic bytes).")
    if len(blob) > NOTE_LIMIT:
        _too_large()
    if not is_whole_part(len(blob)):
        abort(400, "The ciphertext is not a whole Parrhesia part (truncated?).")
    generation, sealed = _sealed_key(data, required=True) or (0, b"")
    part = casework.record_note(current_instance(), get_session(), _recipient(), report, part_id=part_id, blob=blob,
                                generation=generation, sealed=sealed, on=_day(report))
    return {"id": part.id, "size": part.size, "created_on": part.created_on.isoformat()}, 201


@bp.post("/reports/<report_id>/recusal")
def recuse(report_id: str) -> dict[str, Any]:
    """Declare a conflict of interest (or, with ``outside_competence``, that the report
    is outside the body's remit): the body loses access at once and the report moves on
    along its escalation chain (or to the recipient of last resort)."""
    report = _report_or_404(report_id)
    data = _json_body()
    reason = _text(data, "reason")
    outside_competence = data.get("outside_competence", False)
    if not isinstance(outside_competence, bool):
        abort(400, '"outside_competence" must be true or false.')
    host, db = current_host(), get_session()
    gained, events = casework.recuse(host, db, _recipient(), report, reason, outside_competence=outside_competence)
    dispatch(host, db, events, on=report.updated_on)
    return {"id": report_id, "recused": True, "to": gained}


@bp.post("/reports/<report_id>/clocks/<clock_id>/extension")
def extend_clock(report_id: str, clock_id: str) -> dict[str, Any]:
    """Extend a running clock where its law allows, with the reason that justifies it."""
    report = _report_or_404(report_id)
    data = _json_body()
    months = data.get("months")
    if not isinstance(months, int) or isinstance(months, bool):
        abort(400, '"months" is required and must be a whole number.')
    casework.extend_clock(get_session(), _recipient(), report, clock_id, months, _text(data, "reason"))
    return _describe(report)


@bp.post("/reports/<report_id>/junk")
def mark_junk(report_id: str) -> dict[str, Any]:
    """Mark the report as junk, with the reason: the body's clocks stop (casework.mark_junk)."""
    report = _report_or_404(report_id)
    casework.mark_junk(get_session(), _recipient(), report, _text(_json_body(), "reason"), on=_day(report))
    return _describe(report)


@bp.post("/reports/<report_id>/clocks/<clock_id>/pause")
def pause_clock(report_id: str, clock_id: str) -> dict[str, Any]:
    """Stop a running clock where its law allows, with the reason."""
    report = _report_or_404(report_id)
    casework.pause_clock(get_session(), _recipient(), report, clock_id, _text(_json_body(), "reason"),
                         on=_day(report))
    return _describe(report)


@bp.post("/reports/<report_id>/clocks/<clock_id>/resume")
def resume_clock(report_id: str, clock_id: str) -> dict[str, Any]:
    """Restart a paused clock; the days of the pause are added to its deadline."""
    report = _report_or_404(report_id)
    casework.resume_clock(get_session(), _recipient(), report, clock_id, on=_day(report))
    return _describe(report)


@bp.post("/reports/<report_id>/transfer")
def transfer(report_id: str) -> dict[str, Any]:
    """Transfer to another body, with a reason; this body loses access.

    A body of the report's escalation chain already holds the report key. Any other
    body needs ``sealed_key`` and ``generation``: the report key sealed, on the
    recipient's machine, to the target body's current key (``GET
    /bodies/<body>/recipients``); the server never holds that key.
    """
    report = _report_or_404(report_id)
    data = _json_body()
    target = _text(data, "body")
    reason = _text(data, "reason")
    sealed = _sealed_key(data, required=False)
    host, db = current_host(), get_session()
    events = casework.transfer(host, db, _recipient(), report, target, reason, sealed)
    dispatch(host, db, events, on=report.updated_on)
    return {"id": report_id, "transferred": True, "to": target}
