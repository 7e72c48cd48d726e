"""The source's own report: logging in with the codename, reading replies, adding
messages and files, asking for escalation or protection, logging out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from nacl.public import PrivateKey
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

from parrhesia.crypto import CryptoFormatError, PartReader, derive_source_identity, normalise_codename, open_report_key
from parrhesia.domain import access, protection_requests, reports
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.escalation import escalate, source_may_ask
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import current_host
from parrhesia.domain.parts import Sealing
from parrhesia.instance import current_instance
from parrhesia.offload import blocking
from parrhesia.storage.blobs import BlobStore
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Part, Report
from parrhesia.web.security import csrf_exempt
from parrhesia.web.source import bp, work
from parrhesia.web.source import session as source_session
from parrhesia.web.source.forms import ConsentForm, EscalationForm, LoginForm, LogoutForm, ProtectionForm
from parrhesia.web.source.readers import stored_routing
from parrhesia.web.source.submission import limit_mb, receive
from parrhesia.web.source.work import challenge_of

__all__ = ["SOURCE_KINDS", "DISPLAY_LIMIT"]

# What the source's conversation shows: never a body's internal note, and protection
# requests appear in their own section.
SOURCE_KINDS = frozenset({"message", "attachment", "answers", "reply"})
# A message longer than this is shown truncated; the recipient still gets all of it.
DISPLAY_LIMIT = 256 * 1024


@dataclass(frozen=True)
class ConversationItem:
    author: str
    kind: str
    created_on: str
    text: str | None
    filename: str | None
    truncated: bool = False
    unreadable: bool = False


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | tuple[str, int, dict[str, str]] | str:
    form = LoginForm()
    if form.validate_on_submit():
        # Each guess pays during a flood and is counted under the ceiling before its
        # Argon2id derivation runs; a challenge carries one guess (parrhesia.web.source.work).
        fields = request.form.to_dict(flat=False)
        try:
            challenge = work.require(fields, kind="login")
        except work.FormTooEarly as early:
            posted = {"token": challenge_of(fields), "wait": early.seconds, "bits": 0}
            page = render_template("login.html", form=form, error=early.description, work=posted)
            return page, 429, {"Retry-After": str(early.seconds)}
        if not work.spend(challenge, kind="login"):
            return render_template("login.html", form=form, error=_(
                "This page was sent already. Enter your codename again on this page.")), 400
        work.ceiling("login")  # after spending: a replayed challenge takes no one's place
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
    return _report_page(report, report_key)


def _logged_in() -> tuple[Report, PrivateKey]:
    """The logged-in source's report and key; a form posted after the session ended
    gets a clear 403 (and nothing it carried is stored)."""
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    return found


def _report_page(report: Report, report_key: PrivateKey, *, error: str | None = None, status: int = 200) -> Any:
    return render_template(
        "report.html",
        report=report,
        conversation=_conversation(report, report_key),
        routing=stored_routing(report),
        escalations=_escalation_history(report),
        escalation_form=EscalationForm(),
        measures=current_host().measures,
        protection_form=_protection_form(),
        consent_form=ConsentForm(),
        protection=_protection_view(report),
        protection_sent=request.args.get("protection") == "1",
        limit_mb=limit_mb(),
        logout_form=LogoutForm(formdata=None),
        sent=request.args.get("sent") == "1",
        escalated_to=_escalated_to(report),
        escalated_nowhere=request.args.get("escalated") == "none",
        error=error,
    ), status


@dataclass(frozen=True)
class ProtectionView:
    id: str
    measure: str
    body: str
    status: str
    day: str
    identity_state: str
    disclosure_reason: str | None
    disclosure_effective_on: str | None


def _protection_view(report: Report) -> list[ProtectionView]:
    host = current_host()
    labels = {m.id: str(m.label) for m in host.measures}
    views = []
    for row in report.protection_requests:
        body = host.directory.get(row.body_id)
        views.append(ProtectionView(
            row.id, labels.get(row.measure_id, row.measure_id), str(body.name) if body else row.body_id, row.status,
            row.created_on.isoformat(), row.identity_state, row.disclosure_reason,
            row.disclosure_effective_on.isoformat() if row.disclosure_effective_on else None,
        ))
    return views


def _escalated_to(report: Report) -> str | None:
    """The body the source's own request just sent the report to (from ``?escalated=``)."""
    body_id = request.args.get("escalated")
    if not body_id or body_id == "none" or not access.holds(report, body_id):
        return None
    body = current_host().directory.get(body_id)
    return str(body.name) if body else None


def _escalation_history(report: Report) -> list[tuple[str, str, str]]:
    """(day, body name or "", trigger) for each escalation, for the source."""
    directory = current_host().directory
    history = []
    for step in report.escalations:
        body = directory.get(step.body_id) if step.body_id else None
        history.append((step.on.isoformat(), str(body.name) if body else "", step.trigger))
    return history


@bp.post("/report")
@csrf_exempt  # checked by the streaming parser before any content is read
def follow_up() -> Response | tuple[str, int]:
    report, report_key = _logged_in()
    # Under the instance's ceiling, counted before any content is read (503 beyond it).
    submission = receive(report.id, report.public_key, before_content=lambda _fields: work.ceiling("follow-up"))
    if not submission.parts:
        return _report_page(report, report_key, error=_("Write a message or attach at least one file."), status=400)
    db = get_session()
    events = reports.add_source_parts(db, report, submission, on=report_day(current_instance().config, report))
    dispatch(current_host(), db, events, on=report.updated_on)
    return redirect(url_for("source.report", sent="1"), code=303)


@bp.post("/report/escalate")
def escalate_report() -> Response | tuple[str, int]:
    """The source asks for escalation: always possible for danger or collusion; for
    missing feedback, once a feedback deadline has passed."""
    report, report_key = _logged_in()
    form = EscalationForm()
    if not form.validate_on_submit():
        return _report_page(report, report_key, error=_("Please check the form and try again."), status=400)
    host = current_host()
    day = report_day(host.config, report)
    if not source_may_ask(report, form.reason.data or "", day):
        return _report_page(
            report, report_key, status=400,
            error=_("You can ask for this once the deadline for feedback has passed, or at any time if someone is in danger or you believe a body is involved."),
        )
    db = get_session()
    explanation = (form.explanation.data or "").strip()
    with Sealing(current_instance(), db) as sealing:
        if explanation:
            sealing.text(report, explanation, kind="message", author="source", on=day,
                         meta={"escalation": form.reason.data})
        step = escalate(host, db, report, trigger="source-request", actor="source", on=day, reason=form.reason.data)
    dispatch(host, db, step.events, on=day)
    return redirect(url_for("source.report", escalated=step.body_id or "none"), code=303)


@bp.post("/report/protection")
def ask_protection() -> Response | tuple[str, int]:
    """The source asks for a protection measure from the jurisdiction's catalogue."""
    report, report_key = _logged_in()
    form = _protection_form()
    if not form.validate_on_submit():
        return _report_page(report, report_key, error=_("Please check the form and try again."), status=400)
    host = current_host()
    day = report_day(host.config, report)
    try:
        _request, events = protection_requests.request_protection(
            host, current_instance(), get_session(), report,
            measure_id=form.measure.data or "", details=form.details.data or "", identity=form.identity.data or "",
            from_date=form.from_date.data, on=day,
        )
    except protection_requests.ProtectionError as problem:
        return _report_page(report, report_key, error=str(problem), status=400)
    dispatch(host, get_session(), events, on=day)
    return redirect(url_for("source.report", protection="1"), code=303)


@bp.post("/report/protection/<request_id>/consent")
def consent(request_id: str) -> Response | tuple[str, int]:
    """The source agrees that the competent body may read the identity they gave."""
    report, report_key = _logged_in()
    if not ConsentForm().validate_on_submit():
        return _report_page(report, report_key, error=_("Please check the form and try again."), status=400)
    request_row = next((r for r in report.protection_requests if r.id == request_id), None)
    if request_row is None:
        abort(404)
    try:
        protection_requests.consent_to_disclosure(get_session(), request_row, on=current_instance().config.today())
    except protection_requests.ProtectionError as problem:
        return _report_page(report, report_key, error=str(problem), status=400)
    return redirect(url_for("source.report"), code=303)


def _protection_form() -> ProtectionForm:
    form = ProtectionForm()
    form.measure.choices = [SelectChoice(m.id, str(m.label)) for m in current_host().measures]
    return form


@bp.post("/logout")
def logout() -> Response:
    source_session.end()
    return redirect(url_for("source.index"), code=303)


def _open_with_codename(codename: str) -> tuple[Report, PrivateKey] | None:
    try:
        normalised = normalise_codename(codename)
    except ValueError:
        return None
    instance = current_instance()
    identity = blocking(derive_source_identity, normalised, instance.pepper, instance.codename_kdf)
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


def _conversation(report: Report, report_key: PrivateKey) -> list[ConversationItem]:
    blobs = current_instance().blobs
    return [
        _decrypt_for_source(blobs, report, part, report_key)
        for part in report.parts
        if part.kind in SOURCE_KINDS
    ]


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
