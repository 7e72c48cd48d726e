"""Views of the source interface. No page needs JavaScript or any outside resource."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from nacl.public import PrivateKey
from werkzeug.wrappers import Response

from parrhesia import reports
from parrhesia.crypto import (
    CryptoFormatError,
    PartReader,
    derive_source_identity,
    fingerprint,
    generate_codename,
    new_report_keypair,
    normalise_codename,
    open_report_key,
)
from parrhesia.db import get_session
from parrhesia.instance import current_instance
from parrhesia.blobs import BlobStore
from parrhesia.models import Part, Report
from parrhesia.security import csrf
from parrhesia.source import session as source_session
from parrhesia.source.forms import LoginForm, LogoutForm
from parrhesia.upload import Submission, SubmissionRejected, receive_submission

__all__ = ["bp"]

bp = Blueprint("source", __name__)

# A message longer than this is shown truncated; the recipient still gets all of it.
DISPLAY_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Reader:
    body_name: str
    body_kind: str
    recipients: list[tuple[str, str]]  # (name, fingerprint)


@dataclass(frozen=True)
class ConversationItem:
    author: str
    kind: str
    created_on: str
    text: str | None
    filename: str | None
    truncated: bool = False
    unreadable: bool = False


@bp.get("/")
def index() -> str:
    return render_template("index.html", readers=_readers())


@bp.get("/submit")
def submit_form() -> str:
    return render_template("submit.html", readers=_readers(), limit_mb=_limit_mb())


@bp.post("/submit")
@csrf.exempt  # checked by the streaming parser before any content is read
def submit() -> Response | tuple[str, int] | str:
    instance = current_instance()
    report_id = reports.new_report_id()
    report_key = new_report_keypair()
    submission = _receive(report_id, bytes(report_key.public_key))
    if not submission.parts:
        return render_template(
            "submit.html",
            readers=_readers(),
            limit_mb=_limit_mb(),
            error=_("Write a message or attach at least one file."),
        ), 400
    codename = generate_codename()
    identity = derive_source_identity(codename, instance.pepper)
    db = get_session()
    report = reports.open_report(
        db,
        report_id=report_id,
        report_key=report_key,
        source=identity,
        route=reports.route_for(instance.config),
        submission=submission,
    )
    source_session.start(report, report_key)
    # Shown once, never stored: the page is not cached (Cache-Control: no-store).
    return render_template("codename.html", codename=codename, logout_form=LogoutForm())


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    form = LoginForm()
    if form.validate_on_submit():
        found = _open_with_codename(form.codename.data or "")
        if found is not None:
            source_session.start(*found)
            return redirect(url_for("source.report"), code=303)
        return render_template(
            "login.html", form=form, error=_("That codename was not recognised. Check it and try again.")
        ), 403
    status = 400 if request.method == "POST" else 200
    return render_template("login.html", form=form), status


@bp.get("/report")
def report() -> Response | str:
    found = source_session.current()
    if found is None:
        return redirect(url_for("source.login"), code=303)
    report, report_key = found
    return render_template(
        "report.html",
        report=report,
        conversation=_conversation(report, report_key),
        limit_mb=_limit_mb(),
        logout_form=LogoutForm(),
        sent=request.args.get("sent") == "1",
    )


@bp.post("/report")
@csrf.exempt  # checked by the streaming parser before any content is read
def follow_up() -> Response | tuple[str, int]:
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    report, report_key = found
    submission = _receive(report.id, report.public_key)
    if not submission.parts:
        return render_template(
            "report.html",
            report=report,
            conversation=_conversation(report, report_key),
            limit_mb=_limit_mb(),
            logout_form=LogoutForm(),
            error=_("Write a message or attach at least one file."),
        ), 400
    reports.add_source_parts(get_session(), report, submission)
    return redirect(url_for("source.report", sent="1"), code=303)


@bp.post("/logout")
def logout() -> Response:
    source_session.end()
    return redirect(url_for("source.index"), code=303)


def _receive(report_id: str, report_public_key: bytes) -> Submission:
    instance = current_instance()
    return receive_submission(
        request,
        blobs=instance.blobs,
        report_id=report_id,
        report_public_key=report_public_key,
        limit=instance.config.max_submission_bytes,
    )


def _open_with_codename(codename: str) -> tuple[Report, PrivateKey] | None:
    try:
        normalised = normalise_codename(codename)
    except ValueError:
        return None
    identity = derive_source_identity(normalised, current_instance().pepper)
    db = get_session()
    report = reports.find_by_lookup(db, identity.lookup_id)
    if report is None:
        return None
    sealed = next((k for k in report.sealed_keys if k.holder == "source"), None)
    if sealed is None:
        return None
    try:
        return report, open_report_key(sealed.sealed, identity.private_key)
    except CryptoFormatError:
        return None


def _readers() -> list[Reader]:
    """Who can read a new report: each body on the route, with its recipients' keys."""
    instance = current_instance()
    route = reports.route_for(instance.config)
    recipients = reports.recipients_of(get_session(), (body.id for body in route))
    return [
        Reader(
            body_name=body.name,
            body_kind=body.kind,
            recipients=[(r.name, fingerprint(r.public_key)) for r in recipients if r.body_id == body.id],
        )
        for body in route
    ]


def _conversation(report: Report, report_key: PrivateKey) -> list[ConversationItem]:
    blobs = current_instance().blobs
    return [_decrypt_for_source(blobs, report, part, report_key) for part in report.parts]


def _decrypt_for_source(blobs: BlobStore, report: Report, part: Part, report_key: PrivateKey) -> ConversationItem:
    day = part.created_on.isoformat()
    try:
        with blobs.open(part.blob) as handle:
            reader = PartReader(handle, report_key, report.id, part.id)
            if part.kind == "attachment":
                return ConversationItem(part.author, part.kind, day, None, str(reader.meta.get("filename", "")))
            text = bytearray()
            for chunk in reader:
                text += chunk
                if len(text) > DISPLAY_LIMIT:
                    break
            truncated = len(text) > DISPLAY_LIMIT
            return ConversationItem(
                part.author, part.kind, day, bytes(text[:DISPLAY_LIMIT]).decode("utf-8", "replace"), None, truncated
            )
    except (OSError, CryptoFormatError):
        return ConversationItem(part.author, part.kind, day, None, None, unreadable=True)


def _limit_mb() -> int:
    return current_instance().config.max_submission_bytes // (1000 * 1000)

