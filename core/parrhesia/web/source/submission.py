"""Making a report: routing questions, the confirmation step, the encrypted content.

Step 1 asks the routing questions (visible to the server, and the page says so); step
2 shows who will and will not read the report, then takes the message, the content
answers and the files, which the upload parser encrypts as they stream in; the server
routes the report and shows the codename once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from flask import render_template, request
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from parrhesia.contract.intake import InvalidAnswer, clean_routing_answers
from parrhesia.contract.manager import PluginFailure
from parrhesia.crypto import derive_source_identity, generate_codename, new_report_keypair
from parrhesia.domain import form_tokens, reports
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import current_host
from parrhesia.domain.notifications import flush
from parrhesia.instance import current_instance
from parrhesia.offload import blocking
from parrhesia.storage.db import get_session
from parrhesia.upload import Submission, SubmissionRejected, receive_submission
from parrhesia.web import routing
from parrhesia.web.security import csrf_exempt, renew_csrf_token
from parrhesia.web.source import bp, work
from parrhesia.web.source import session as source_session
from parrhesia.web.source.forms import LogoutForm
from parrhesia.web.source.readers import readers, routing_view
from parrhesia.web.source.receipt import published_key

__all__ = ["receive", "log_failures", "limit_mb", "notify_duty_at_once"]

log = logging.getLogger(__name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html", readers=readers(), receipt_key=published_key())


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
@csrf_exempt  # checked by the streaming parser before any content is read
def submit() -> Response | tuple[str, int] | str:
    """Step 3: receive the encrypted content, route on the server, show the codename."""
    instance = current_instance()
    host = current_host()
    report_id = reports.new_report_id()
    report_key = new_report_keypair()
    # A flood pays before the costly steps: the form's challenge was waited for or
    # solved and is used up, and this minute has room — checked once the fields before
    # the content have arrived, so a refusal reads almost nothing (parrhesia.web.source.work).
    submission = receive(report_id, bytes(report_key.public_key), before_content=_paid)
    try:
        answers = clean_routing_answers(host.routing_fields, submission.fields)
    except InvalidAnswer as problem:
        submission.discard()
        return _routing_error(problem, submission.fields)
    if not any(part.kind in ("message", "attachment") for part in submission.parts):
        submission.discard()
        return _content_form(answers, error=_("Write a message or attach at least one file."), status=400)
    codename = generate_codename()
    try:
        # Argon2id only once the form has proved itself (CSRF, single-use token, content),
        # so junk posted here costs no derivation; on a real thread of a pool of one per
        # core (parrhesia.offload), with no transaction open.
        source = blocking(derive_source_identity, codename, instance.pepper, instance.codename_kdf)
    except BaseException:
        submission.discard()
        raise
    decision = routing.decide(answers)
    if decision is None:
        submission.discard()
        return _content_form(answers, status=500)
    # store_submission stores everything or, on any failure, discards the blobs and re-raises.
    report, events = reports.store_submission(
        get_session(),
        report_id=report_id,
        report_key=report_key,
        source=source,
        decision=decision,
        fields=answers,
        submission=submission,
        on=report_day(instance.config, jurisdiction=routing.jurisdiction(answers)),
    )
    work.meter().count("stored:submit")
    log_failures(decision.failures)
    dispatch(host, get_session(), events, on=report.created_on)
    if decision.duty:
        notify_duty_at_once(decision.duty, report.id)
    source_session.start(report, report_key)
    # Shown once, never stored: the page is not cached (Cache-Control: no-store).
    return render_template("codename.html", codename=codename, logout_form=LogoutForm(formdata=None))


def receive(
    report_id: str, report_public_key: bytes, *,
    before_content: Callable[[Mapping[str, Sequence[str]]], None] | None = None,
) -> Submission:
    """Receive a submission or follow-up form, encrypted as it streams; its form token is
    spent, so the same page cannot be posted twice (form_tokens). ``before_content``
    checks the fields that precede the content (upload.receive_submission)."""
    # No transaction stays open while a body arrives, for minutes perhaps over Tor: on
    # SQLite it would hold the write lock, and under gevent the process's writer turn.
    get_session().commit()
    instance = current_instance()
    submission = receive_submission(
        request,
        blobs=instance.blobs,
        report_id=report_id,
        report_public_key=report_public_key,
        limit=instance.config.max_submission_bytes,
        content_fields=frozenset(f.name for f in current_host().content_fields),
        before_content=before_content,
    )
    if submission.form_token is None:
        submission.discard()
        raise SubmissionRejected(
            _("The form expired or was not sent from this site. Nothing was stored; please reload the page.")
        )
    try:
        spent = form_tokens.spend(get_session(), submission.form_token, on=current_instance().config.today())
    except BaseException:
        submission.discard()  # a database failure stores nothing either
        raise
    if not spent:
        submission.discard()
        raise SubmissionRejected(_("This page was sent already. Nothing more was stored; open the form again to write."))
    renew_csrf_token()  # the next page's token differs, even in the same second
    return submission


def _paid(fields: Mapping[str, Sequence[str]]) -> None:
    if not work.spend(work.require(fields, kind="submit"), kind="submit"):
        raise SubmissionRejected(_("This page was sent already. Nothing more was stored; open the form again to write."))
    work.ceiling("submit")  # after spending: a replayed challenge takes no one's place


def _routing_error(problem: InvalidAnswer, answers: Mapping[str, list[str]]) -> tuple[str, int]:
    message = _("Please check your answer to: %(question)s", question=problem.field.label)
    return render_template(
        "submit_route.html", fields=current_host().routing_fields, answers=answers, error=message
    ), 400


def _content_form(
    answers: dict[str, tuple[str, ...]], *, error: str | None = None, status: int = 200
) -> tuple[str, int]:
    decision = routing.decide(answers)
    if decision is None:
        error = _("This report cannot be routed safely on this instance. Nothing was stored. Please contact its operators.")
        return render_template("submit_route.html", fields=current_host().routing_fields, answers=answers, error=error), 500
    return render_template(
        "submit.html",
        answers=answers,
        routing=routing_view(decision, report_day(current_instance().config, jurisdiction=routing.jurisdiction(answers))),
        content_fields=current_host().content_fields,
        limit_mb=limit_mb(),
        error=error,
    ), status


def notify_duty_at_once(body_ids: Sequence[str], report_id: str) -> None:
    """Imminent danger (a source's report, or one an officer took in person): the duty body's recipients are told now, not in the next batch."""
    db = get_session()
    recipients = [r.id for r in reports.recipients_of(db, body_ids)]
    result = flush(current_host(), db, only=recipients)
    if result.failures:
        reports.record_plugin_failures(db, result.failures, report_id, on=current_instance().config.today())
        db.commit()
        log_failures(result.failures)


def log_failures(failures: Sequence[PluginFailure]) -> None:
    for failure in failures:
        # Plugin, hook and error type only: a message could carry content.
        log.error("plugin %s failed in %s (%s); recorded for operators, the report kept the other plugins' answers "
                  "and the instance's fallbacks", failure.plugin, failure.hook, failure.error)


def limit_mb() -> int:
    return current_instance().config.max_submission_bytes // (1000 * 1000)
