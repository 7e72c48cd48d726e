"""Views of the source interface. No page needs JavaScript or any outside resource."""

from __future__ import annotations

import logging
from datetime import date
from typing import Any
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_babel import gettext as _
from nacl.public import PrivateKey
from werkzeug.wrappers import Response
from wtforms.fields.choices import SelectChoice

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
from parrhesia.clocks import due_date
from parrhesia.db import get_session
from parrhesia.events import Event, EventName
from parrhesia.host import current_host
from parrhesia.instance import current_instance
from parrhesia.intake import InvalidAnswer, SourceNotice, clean_routing_answers
from parrhesia.notifications import flush
from parrhesia.plugins import PluginFailure
from parrhesia.routing import RouteDecision, RoutingError, RoutingRequest
from parrhesia.blobs import BlobStore
from parrhesia.models import Part, Report
from parrhesia.security import csrf
from parrhesia.source import session as source_session
from parrhesia.escalation import escalate
from parrhesia import protection_requests
from parrhesia.source.forms import ConsentForm, EscalationForm, LoginForm, LogoutForm, ProtectionForm
from parrhesia.upload import Submission, SubmissionRejected, receive_submission

__all__ = ["bp"]

bp = Blueprint("source", __name__)
log = logging.getLogger(__name__)

# What the source's conversation shows: never a body's internal note, and protection
# requests appear in their own section.
SOURCE_KINDS = frozenset({"message", "attachment", "answers", "reply"})
# A message longer than this is shown truncated; the recipient still gets all of it.
DISPLAY_LIMIT = 256 * 1024


@dataclass(frozen=True)
class Reader:
    body_id: str
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
    """Step 1: the routing questions (visible to the server, and the page says so)."""
    return render_template("submit_route.html", fields=current_host().routing_fields, answers={})


@bp.post("/submit/review")
def review() -> tuple[str, int] | str:
    """Step 2: who will and will not read the report; then the encrypted content form."""
    host = current_host()
    try:
        answers = clean_routing_answers(host.routing_fields, request.form.to_dict(flat=False))
    except InvalidAnswer as problem:
        return _routing_error(problem, request.form.to_dict(flat=False))
    return _content_form(answers)


@bp.post("/submit")
@csrf.exempt  # checked by the streaming parser before any content is read
def submit() -> Response | tuple[str, int] | str:
    """Step 3: receive the encrypted content, route on the server, show the codename."""
    instance = current_instance()
    host = current_host()
    report_id = reports.new_report_id()
    report_key = new_report_keypair()
    submission = _receive(report_id, bytes(report_key.public_key))
    try:
        answers = clean_routing_answers(host.routing_fields, submission.fields)
    except InvalidAnswer as problem:
        submission.discard()
        return _routing_error(problem, submission.fields)
    if not any(part.kind in ("message", "attachment") for part in submission.parts):
        submission.discard()
        return _content_form(answers, error=_("Write a message or attach at least one file."), status=400)
    decision = _decide(answers)
    if decision is None:
        submission.discard()
        return _content_form(answers, status=500)
    codename = generate_codename()
    # open_report stores everything or, on any failure, discards the blobs and re-raises.
    report = reports.open_report(
        get_session(),
        report_id=report_id,
        report_key=report_key,
        source=derive_source_identity(codename, instance.pepper),
        decision=decision,
        fields=answers,
        submission=submission,
    )
    _log_failures(decision.failures)
    if decision.duty:
        _notify_duty_at_once(decision.duty, report.id)
    for name in (EventName.REPORT_RECEIVED, EventName.REPORT_ROUTED):
        _emit(Event(name, report.id, decision.route))
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
    return _report_page(report, report_key)


def _report_page(report: Report, report_key: PrivateKey, *, error: str | None = None, status: int = 200) -> Any:
    return render_template(
        "report.html",
        report=report,
        conversation=_conversation(report, report_key),
        routing=_stored_routing(report),
        escalations=_escalation_history(report),
        escalation_form=EscalationForm(),
        measures=current_host().measures,
        protection_form=_protection_form(),
        consent_form=ConsentForm(),
        protection=_protection_view(report),
        protection_sent=request.args.get("protection") == "1",
        limit_mb=_limit_mb(),
        logout_form=LogoutForm(),
        sent=request.args.get("sent") == "1",
        escalated=request.args.get("escalated") == "1",
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


def _escalation_history(report: Report) -> list[tuple[str, str, str]]:
    """(day, body name or "", trigger) for each escalation, for the source."""
    directory = current_host().directory
    history = []
    for step in report.escalations:
        body = directory.get(step.body_id) if step.body_id else None
        history.append((step.on.isoformat(), str(body.name) if body else "", step.trigger))
    return history


@bp.post("/report")
@csrf.exempt  # checked by the streaming parser before any content is read
def follow_up() -> Response | tuple[str, int]:
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    report, report_key = found
    submission = _receive(report.id, report.public_key)
    if not submission.parts:
        return _report_page(report, report_key, error=_("Write a message or attach at least one file."), status=400)
    reports.add_source_parts(get_session(), report, submission)
    _emit(Event(EventName.SOURCE_FOLLOW_UP, report.id, tuple(b.body_id for b in report.bodies if b.role == "route")))
    return redirect(url_for("source.report", sent="1"), code=303)


@bp.post("/report/escalate")
def escalate_report() -> Response | tuple[str, int]:
    """The source asks for escalation: always possible for danger or collusion; for
    missing feedback, once a feedback deadline has passed."""
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    report, report_key = found
    form = EscalationForm()
    if not form.validate_on_submit():
        return _report_page(report, report_key, error=_("Please check the form and try again."), status=400)
    day = current_instance().config.today()
    if form.reason.data == "no-feedback" and not _feedback_overdue(report, day):
        return _report_page(
            report, report_key, status=400,
            error=_("You can ask for this once the deadline for feedback has passed, or at any time for danger or collusion."),
        )
    db = get_session()
    explanation = (form.explanation.data or "").strip()
    if explanation:
        reports.add_text_part(current_instance(), db, report, explanation, kind="message", meta={"escalation": form.reason.data})
    escalate(current_host(), db, report, trigger="source-request", actor="source", on=day, reason=form.reason.data)
    db.commit()
    return redirect(url_for("source.report", escalated="1"), code=303)


@bp.post("/report/protection")
def ask_protection() -> Response | tuple[str, int]:
    """The source asks for a protection measure from the jurisdiction's catalogue."""
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    report, report_key = found
    form = _protection_form()
    if not form.validate_on_submit():
        return _report_page(report, report_key, error=_("Please check the form and try again."), status=400)
    try:
        protection_requests.request_protection(
            current_host(), current_instance(), get_session(), report,
            measure_id=form.measure.data or "", details=form.details.data or "", identity=form.identity.data or "",
            from_date=form.from_date.data, on=current_instance().config.today(),
        )
    except protection_requests.ProtectionError as problem:
        return _report_page(report, report_key, error=str(problem), status=400)
    return redirect(url_for("source.report", protection="1"), code=303)


@bp.post("/report/protection/<request_id>/consent")
def consent(request_id: str) -> Response | tuple[str, int]:
    """The source agrees that the competent body may read the identity they gave."""
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename; nothing was stored."))
    report, report_key = found
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


def _feedback_overdue(report: Report, day: date) -> bool:
    return any(
        c.met_by == "feedback" and (c.state == "missed" or (c.state == "running" and c.due_on < day))
        for c in report.clocks
    )


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
        content_fields=frozenset(f.name for f in current_host().content_fields),
    )


def _decide(answers: dict[str, tuple[str, ...]]) -> RouteDecision | None:
    try:
        return current_host().decide(RoutingRequest.from_fields(answers))
    except RoutingError:
        log.error("no body outside the conflict can receive a report: check instance.last_resort")
        return None


def _routing_error(problem: InvalidAnswer, answers: Mapping[str, list[str]]) -> tuple[str, int]:
    message = _("Please check your answer to: %(question)s", question=problem.field.label)
    return render_template(
        "submit_route.html", fields=current_host().routing_fields, answers=answers, error=message
    ), 400


def _content_form(
    answers: dict[str, tuple[str, ...]], *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    decision = _decide(answers)
    if decision is None:
        error = _("This report cannot be routed safely on this instance. Nothing was stored. Please contact its operators.")
        return render_template("submit_route.html", fields=current_host().routing_fields, answers=answers, error=error), 500
    return render_template(
        "submit.html",
        answers=answers,
        routing=_routing_view(decision),
        content_fields=current_host().content_fields,
        limit_mb=_limit_mb(),
        error=error,
    ), status


def _notify_duty_at_once(body_ids: Sequence[str], report_id: str) -> None:
    """Imminent danger: the duty body's recipients are told now, not in the next batch."""
    db = get_session()
    recipients = [r.id for r in reports.recipients_of(db, body_ids)]
    result = flush(current_host(), db, only=recipients)
    if result.failures:
        reports.record_plugin_failures(db, result.failures, report_id)
        db.commit()
        _log_failures(result.failures)


def _emit(event: Event) -> None:
    failures = current_host().emit(event)
    if failures:
        db = get_session()
        reports.record_plugin_failures(db, failures, event.report_id)
        db.commit()


def _log_failures(failures: Sequence[PluginFailure]) -> None:
    for failure in failures:
        # Plugin, hook and error type only: a message could carry content.
        log.error("plugin %s failed in %s (%s); the fallback applied", failure.plugin, failure.hook, failure.error)


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


def _readers(body_ids: Sequence[str] | None = None) -> list[Reader]:
    """Bodies with their recipients' key fingerprints.

    By default: the bodies that receive reports on this instance whatever the routing
    (standing route, last resort) and every body that holds a key here.
    """
    host = current_host()
    directory = host.directory
    if body_ids is None:
        keyed = {r.body_id for r in reports.recipients_of(get_session(), directory.bodies.keys())}
        standing = {*host.config.route, *host.config.last_resort}
        body_ids = sorted(keyed | standing, key=lambda b: directory.bodies[b].name)
    recipients = reports.recipients_of(get_session(), body_ids)
    readers = []
    for body_id in body_ids:
        body = directory.get(body_id)
        if body is None:
            continue
        keys = [(r.name, fingerprint(r.public_key)) for r in recipients if r.body_id == body_id]
        readers.append(Reader(body_id, body.name, body.kind.value, keys))
    return readers


@dataclass(frozen=True)
class RoutingView:
    route: list[Reader]
    escalation: list[Reader]
    excluded: list[tuple[str, str]]  # (body name, reason)
    clocks: list[tuple[str, str, str]]  # (label, due day, legal source)
    notices: list[SourceNotice]
    fallback: bool


def _routing_view(decision: RouteDecision) -> RoutingView:
    directory = current_host().directory
    start = reports.today()
    return RoutingView(
        route=_readers(decision.route),
        escalation=_readers([s.body_id for s in decision.escalation]),
        excluded=[(directory.bodies[e.body_id].name, e.reason) for e in decision.excluded],
        clocks=[(str(c.label), due_date(start, c).isoformat(), c.legal_source) for c in decision.clocks],
        notices=list(decision.notices),
        fallback=decision.fallback,
    )


def _stored_routing(report: Report) -> RoutingView:
    """The routing stored with a report, for the source's report page."""
    directory = current_host().directory

    def name(body_id: str) -> str:
        body = directory.get(body_id)
        return body.name if body else body_id

    by_role: dict[str, list[str]] = {"route": [], "escalation": [], "excluded": []}
    for row in report.bodies:
        by_role.setdefault(row.role, []).append(row.body_id)
    return RoutingView(
        route=_readers(by_role["route"]),
        escalation=_readers(by_role["escalation"]),
        excluded=[(name(row.body_id), row.reason or "") for row in report.bodies if row.role == "excluded"],
        clocks=[(c.label, c.due_on.isoformat(), c.legal_source) for c in report.clocks],
        notices=[],
        fallback=report.fallback_route,
    )


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


def _limit_mb() -> int:
    return current_instance().config.max_submission_bytes // (1000 * 1000)

