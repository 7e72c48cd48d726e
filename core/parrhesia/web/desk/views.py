"""Views of the recipients' desk: log-in, inbox, report page, casework (the key-file page
is in :mod:`.keyfile`, administration in :mod:`.admin`, protection requests in
:mod:`.protection`).

Everything works without JavaScript except reading content, which only ever happens in
the recipient's browser (``static/desk/decrypt.js``) or on their machine: the server
hands out ciphertext and sealed keys, never plaintext. Authorisation is decided by the
decorators of :mod:`parrhesia.web.desk.auth` (who is logged in, and as what) and by
:mod:`parrhesia.domain.casework` (a report of another body is "not found"); every action is
audited there, and log-ins, enrolment, log-outs and operator views here.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from parrhesia.contract.events import Event
from parrhesia.crypto._encoding import b64url_decode, b64url_encode
from parrhesia.domain import access, accounts, casework, custody
from parrhesia.domain.accounts import LoginRefused, provisioning_uri, qr_svg
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import current_host
from parrhesia.instance import current_instance
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Operator, Part, Recipient, Report
from parrhesia.upload.sealed_part import NotAPart
from parrhesia.web.ciphertext import ciphertext_response
from parrhesia.web.desk import auth
from parrhesia.web.desk.forms import (
    ActionForm,
    ClockForm,
    EnrolForm,
    JunkForm,
    LoginForm,
    NoteForm,
    RecuseForm,
    ReplyForm,
    StatusForm,
    TransferForm,
)

__all__ = ["bp"]

bp = Blueprint("desk", __name__, url_prefix="/desk")

ENROL_MINUTES = 10
DUE_SOON_DAYS = 7
_ENROL_FIELD = "desk_enrol"
_PART_ID = re.compile(r"^[0-9a-f]{32}$")


# ---------------------------------------------------------------- helpers


def _db() -> Session:
    return get_session()


def _recipient() -> Recipient:
    account = auth.current()
    if account is None:  # pragma: no cover - the decorators ran first
        abort(401)
    return account.recipient


def _safe_next(target: str | None) -> str | None:
    """A redirect target only if it is a local desk path (no scheme, host or tricks)."""
    if not target or "\\" in target or any(ord(c) < 32 for c in target):
        return None
    parts = urllib.parse.urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/desk/") or target.startswith("//"):
        return None
    if "/../" in parts.path or parts.path.endswith("/.."):
        return None
    return target


def _home(kind: str) -> str:
    return url_for("desk.operator") if kind == "operator" else url_for("desk.inbox")


def _problem(message: str, back: str | None = None, status: int = 400) -> tuple[str, int]:
    """An error page with a message for the recipient (never a 500 for their mistakes)."""
    return render_template("desk/problem.html", message=message, back=back), status


def _first_error(form: FlaskForm) -> str:
    for errors in form.errors.values():
        for error in errors:
            return str(error)
    return _("Please check the form and try again.")


def _open(report_id: str, *, audit_open: bool = False) -> Report:
    try:
        return casework.open_report(_db(), _recipient(), report_id, audit_open=audit_open)
    except casework.ReportNotFound:
        abort(404, _("No such report for your body."))


def _day(report: Report) -> date:
    """Today where the report's deadlines are counted: the day every casework action is dated."""
    return report_day(current_instance().config, report)


def _back_to(report: Report) -> str:
    return url_for("desk.report", report_id=report.id)


def _body_name(body_id: str) -> str:
    body = current_host().directory.get(body_id)
    return body.name if body else body_id


@bp.app_template_filter("desk_size")
def _desk_size(size: int) -> str:
    if size < 1024 * 1024:
        return _("%(kb)s KB", kb=max(1, round(size / 1024)))
    return _("%(mb).1f MB", mb=size / (1024 * 1024))


@bp.errorhandler(HTTPException)
def _desk_error(error: HTTPException) -> tuple[str, int]:
    """Desk errors in the desk's layout (the app's handler serves every other page)."""
    return render_template("desk/problem.html", message=error.description, title=error.name), error.code or 500


@bp.context_processor
def _desk_globals() -> dict[str, Any]:
    account = auth.current()
    # formdata=None: this form only carries a CSRF token; it must never parse the request
    # body (an error page for a malformed JSON body would fail again, with a 500).
    return {"account": account, "logout_form": ActionForm(formdata=None), "body_name": _body_name}


# ---------------------------------------------------------------- log-in and log-out


def _find_account(db: Session, login_name: str) -> tuple[str, Recipient | Operator] | tuple[None, None]:
    recipient = db.scalar(select(Recipient).where(Recipient.login_name == login_name))
    if recipient is not None:
        return ("recipient", recipient) if recipient.active else (None, None)
    operator = db.scalar(select(Operator).where(Operator.login_name == login_name))
    if operator is not None:
        return "operator", operator
    return None, None


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | tuple[str, int] | str:
    wanted = _safe_next(request.args.get("next"))
    account = auth.current()
    if account is not None:
        return redirect(wanted if account.kind == "recipient" and wanted else _home(account.kind), code=303)
    # the page's note on throttling says what accounts.py does
    throttling = {"free_failures": accounts.FREE_FAILURES, "max_wait": int(accounts.MAX_DELAY.total_seconds() // 60)}
    form = LoginForm()
    if request.method == "GET":
        return render_template("desk/login.html", form=form, next=wanted, **throttling)
    if not form.validate_on_submit():
        return render_template("desk/login.html", form=form, next=wanted, **throttling,
                               error=_("Enter your log-in name, password and code.")), 400
    db = _db()
    kind, record = _find_account(db, (form.login_name.data or "").strip())
    password, code = form.password.data or "", form.code.data or ""
    try:
        enrolling = accounts.log_in(db, record, password, code)
    except LoginRefused:  # the page says neither why nor whether the account exists
        return render_template(
            "desk/login.html", form=LoginForm(formdata=None, login_name=form.login_name.data), next=wanted,
            **throttling,
            error=_("Log-in refused: the name, password or code is wrong, or it came too soon after failed "
                    "attempts. Wait a little, then try again with a new code."),
        ), 403
    if kind is None or record is None:  # pragma: no cover - accounts.log_in refuses an unknown account
        abort(403)
    if enrolling:
        session[_ENROL_FIELD] = [record.id, int(time.time()) + ENROL_MINUTES * 60, wanted]
        return redirect(url_for("desk.enrol"), code=303)
    auth.start(kind, record)  # commits
    return redirect(wanted if kind == "recipient" and wanted else _home(kind), code=303)


def _pending_enrolment() -> tuple[Recipient, str | None] | None:
    pending = session.get(_ENROL_FIELD)
    if not isinstance(pending, list) or len(pending) != 3:
        return None
    recipient_id, until, wanted = pending
    if not isinstance(recipient_id, int) or not isinstance(until, int) or until < time.time():
        session.pop(_ENROL_FIELD, None)
        return None
    recipient = _db().get(Recipient, recipient_id)
    if recipient is None or not recipient.active or not accounts.needs_enrolment(recipient):
        session.pop(_ENROL_FIELD, None)
        return None
    return recipient, _safe_next(wanted)


@bp.route("/enrol", methods=["GET", "POST"])
def enrol() -> Response | tuple[str, int] | str:
    """First log-in: set up the authenticator app, then log in with its first code."""
    pending = _pending_enrolment()
    if pending is None:
        flash(_("Your first log-in has expired. Log in again with your password."), "error")
        return redirect(url_for("desk.login"), code=303)
    recipient, wanted = pending
    form = EnrolForm()
    status = 200
    error = None
    if request.method == "POST":
        try:
            accounts.enrol(_db(), recipient, form.code.data if form.validate_on_submit() else None)
        except LoginRefused:
            status, error = 403, _("That code was not accepted. Check the time on your phone and try the next code.")
        else:
            auth.start("recipient", recipient)  # commits; clears the pending state with the session
            flash(_("Your authenticator app is set up. Use a fresh code from it at every log-in."), "success")
            return redirect(wanted or url_for("desk.inbox"), code=303)
    secret = recipient.totp_secret or ""
    uri = provisioning_uri(secret, recipient.login_name or str(recipient.id), current_instance().config.name)
    spaced = " ".join(secret[i:i + 4] for i in range(0, len(secret), 4))
    return render_template("desk/enrol.html", form=EnrolForm(formdata=None), qr=qr_svg(uri), secret=spaced,
                           error=error), status


@bp.post("/logout")
def logout() -> Response:
    account = auth.current()
    if account is not None:
        accounts.log_out(_db(), account.record)
    auth.end()
    session.pop(_ENROL_FIELD, None)
    flash(_("You are logged out."), "success")
    return redirect(url_for("desk.login"), code=303)


# ---------------------------------------------------------------- inbox


@dataclass(frozen=True)
class ClockView:
    label: str
    legal_source: str
    due_on: date
    state: str
    overdue: bool
    due_soon: bool
    clock_id: str = ""
    extendable_to_months: int | None = None
    pausable: bool = False
    body: str | None = None  # the body that must act (None: every body holding the report)


@dataclass(frozen=True)
class InboxRow:
    report: Report
    route: list[str]
    clocks: list[ClockView]
    urgent: bool
    unread: bool

    @property
    def overdue(self) -> bool:
        return any(c.overdue for c in self.clocks)


def _clocks(report: Report, on: date) -> list[ClockView]:
    recipient = _recipient()
    soon = on + timedelta(days=DUE_SOON_DAYS)
    return [
        ClockView(c.label, c.legal_source, c.due_on, c.state,
                  overdue=c.state == "running" and c.due_on < on,
                  due_soon=c.state == "running" and on <= c.due_on <= soon,
                  clock_id=c.clock_id, extendable_to_months=c.extendable_to_months, pausable=c.pausable,
                  body=_body_name(c.body_id) if c.body_id else None)
        for c in casework.visible_clocks(report, recipient)
    ]


def _urgent(report: Report) -> bool:
    return any(f.name == "urgency" and f.value == "imminent" for f in report.fields)


@bp.get("/")
@auth.recipient_required
def inbox() -> str:
    recipient = _recipient()
    status = request.args.get("status") or None
    clock = request.args.get("clock") or None
    wanted = casework.InboxFilter(
        status=status if status in current_host().statuses else None,
        clock=clock if clock in ("overdue", "due-soon") else None,
    )
    db = _db()
    config = current_instance().config
    rows = [
        InboxRow(r, [_body_name(b.body_id) for b in r.bodies if b.role == "route"], _clocks(r, report_day(config, r)),
                 _urgent(r), casework.unread(db, recipient, r))
        for r in casework.inbox(db, recipient, config, wanted)
    ]
    return render_template("desk/inbox.html", rows=rows, wanted=wanted, statuses=current_host().statuses)


# ---------------------------------------------------------------- the report page


def _status_form(report: Report) -> StatusForm:
    form = StatusForm(formdata=None if request.method == "GET" else request.form, status=report.status)
    form.status.choices = [(s, s) for s in current_host().statuses]
    return form


def _transfer_form(report: Report) -> TransferForm:
    """Only bodies that may receive the report and can read it (a body key held by a
    member); a body of the escalation chain already holds the report key, any other
    needs it sealed in the browser (the desk's script does that with the key unlocked)."""
    form = TransferForm() if request.method == "POST" else TransferForm(formdata=None)
    blocked = access.blocked_bodies(report) | set(access.route_of(report))
    readable = custody.readable_bodies(_db())
    holding = custody.holding_bodies(_db(), report)
    bodies = sorted((b for b in current_host().directory.bodies.values() if b.id not in blocked and b.id in readable),
                    key=lambda b: (b.id not in holding, b.name))
    form.target.choices = [
        (b.id, b.name if b.id in holding else _("%(body)s (unlock your key first)", body=b.name)) for b in bodies
    ]
    return form


@bp.get("/reports/<report_id>")
@auth.recipient_required
def report(report_id: str) -> str:
    recipient = _recipient()
    found = _open(report_id, audit_open=True)
    on = report_day(current_instance().config, found)
    return render_template(
        "desk/report.html",
        report=found,
        parts=casework.visible_parts(found, recipient),
        clocks=_clocks(found, on),
        urgent=_urgent(found),
        holds_key=("body", None) in custody.sealed_for(_db(), recipient, found),
        stored_key=recipient.wrapped_key is not None,
        action_form=ActionForm(),
        status_form=_status_form(found),
        reply_form=ReplyForm(formdata=None),
        note_form=NoteForm(formdata=None),
        recuse_form=RecuseForm(formdata=None),
        clock_form=ClockForm(formdata=None),
        junk_form=JunkForm(formdata=None),
        transfer_form=_transfer_form(found),
    )


@bp.get("/reports/<report_id>.json")
@auth.recipient_required
def report_data(report_id: str) -> dict[str, Any]:
    """What the browser needs to decrypt: the body keyring with this recipient's grant,
    the keys sealed to the body, and the parts."""
    recipient = _recipient()
    found = _open(report_id)
    db = _db()
    mine = custody.sealed_for(db, recipient, found)
    sealed = mine.get(("body", None))
    notes = {part_id: key for (holder, part_id), key in mine.items() if holder == "note"}
    return {
        "id": found.id,
        "public_key": b64url_encode(found.public_key),
        "sealed_key": b64url_encode(sealed.sealed) if sealed else None,
        "generation": sealed.generation if sealed else None,
        "keyring": custody.keyring_data(db, recipient, b64url_encode),
        # The current body key of each body the report may be transferred to, for the
        # browser to seal the report key to (the server cannot).
        "transfer_keys": {
            body_id: {"generation": key.generation, "public_key": b64url_encode(key.public_key)}
            for body_id, key in custody.current_keys(db, [c for c, _ in _transfer_form(found).target.choices]).items()
        },
        "parts": [
            {
                "id": p.id,
                "kind": p.kind,
                "author": p.author,
                "created_on": p.created_on.isoformat(),
                "size": p.size,
                "url": url_for("desk.part", report_id=found.id, part_id=p.id),
                "sealed_note_key": b64url_encode(notes[p.id].sealed) if p.id in notes else None,
                "note_generation": notes[p.id].generation if p.id in notes else None,
            }
            for p in casework.visible_parts(found, recipient)
        ],
    }


@bp.get("/reports/<report_id>/parts/<part_id>")
@auth.recipient_required
def part(report_id: str, part_id: str) -> Response:
    """The ciphertext of one part (decrypted in the browser); every download is audited."""
    recipient = _recipient()
    found = _open(report_id)
    try:
        chosen = casework.download_part(_db(), recipient, found, part_id)
    except casework.ReportNotFound as missing:
        abort(404, str(missing))
    return ciphertext_response(chosen.blob)


# ---------------------------------------------------------------- casework actions


def _act(
    found: Report, form: FlaskForm | None, action: Callable[[], object], success: str, *, then: str | None = None
) -> Response | tuple[str, int]:
    """The one shape of every casework action: check the form, act through
    :mod:`parrhesia.domain.casework` (which audits and commits), and show a refusal as a page
    with its reason — never a 500 — or the success message on the next page."""
    if form is not None and not form.validate():
        return _problem(_first_error(form), _back_to(found))
    try:
        action()
    except casework.CaseworkError as problem:
        return _problem(str(problem), _back_to(found))
    flash(success, "success")
    return redirect(then or _back_to(found), code=303)


def _moved(found: Report, events: list[Event]) -> None:
    """A report that went to another body: that body is told (dispatch commits)."""
    dispatch(current_host(), _db(), events, on=found.updated_on)


@bp.post("/reports/<report_id>/acknowledge")
@auth.recipient_required
def acknowledge(report_id: str) -> Response | tuple[str, int]:
    found = _open(report_id)
    return _act(found, None, lambda: casework.acknowledge(_db(), _recipient(), found, on=_day(found)), _("Receipt acknowledged."))


@bp.post("/reports/<report_id>/status")
@auth.recipient_required
def status(report_id: str) -> Response | tuple[str, int]:
    found = _open(report_id)
    form = _status_form(found)
    return _act(found, form,
                lambda: casework.set_status(_db(), _recipient(), found, form.status.data or "", current_host().statuses,
                                            on=_day(found)),
                _("Status changed to %(status)s.", status=form.status.data))


@bp.post("/reports/<report_id>/reply")
@auth.recipient_required
def reply(report_id: str) -> Response | tuple[str, int]:
    """The no-JavaScript reply: sealed on receipt, in memory, to the report key."""
    found = _open(report_id)
    form = ReplyForm()
    return _act(found, form,
                lambda: casework.seal_reply(current_instance(), _db(), _recipient(), found, form.text.data or "",
                                            feedback=bool(form.feedback.data), on=_day(found)),
                _("Reply sent. It was sealed to the report key on receipt; only the source and your body can read it."))


@bp.put("/reports/<report_id>/replies/<part_id>")
@auth.recipient_required
def put_reply(report_id: str, part_id: str) -> tuple[dict[str, Any], int]:
    """A reply sealed in the browser: the body is the part's ciphertext (CSRF in X-CSRFToken)."""
    found = _open(report_id)
    if not _PART_ID.match(part_id):
        abort(400, _("A part id is 32 lowercase hexadecimal characters."))
    db = _db()
    if db.scalar(select(Part.id).where(Part.id == part_id)) is not None:
        abort(409, _("A part with this id already exists."))
    try:
        part = casework.receive_reply(current_instance(), db, _recipient(), found, part_id=part_id,
                                      stream=request.stream, feedback=request.args.get("feedback") == "1",
                                      on=_day(found))
    except NotAPart as problem:
        abort(problem.status, str(problem))
    flash(_("Reply sent. It was sealed in your browser; only the source and your body can read it."), "success")
    return {"id": part.id, "size": part.size}, 201


@bp.post("/reports/<report_id>/note")
@auth.recipient_required
def note(report_id: str) -> Response | tuple[str, int]:
    found = _open(report_id)
    form = NoteForm()
    return _act(found, form,
                lambda: casework.add_note(current_instance(), _db(), _recipient(), found, form.text.data or "",
                                          on=_day(found)),
                _("Note added. It is sealed to your body's key only."))


@bp.post("/reports/<report_id>/recuse")
@auth.recipient_required
def recuse(report_id: str) -> Response | tuple[str, int]:
    found = _open(report_id)
    form = RecuseForm()
    return _act(found, form,
                lambda: _moved(found, casework.recuse(current_host(), _db(), _recipient(), found,
                                                      form.reason.data or "")[1]),
                _("Conflict of interest declared. Your body no longer has access to this report."),
                then=url_for("desk.inbox"))


@bp.post("/reports/<report_id>/clocks/<clock_id>/<action>")
@auth.recipient_required
def clock_action(report_id: str, clock_id: str, action: str) -> Response | tuple[str, int]:
    """Extend, pause or resume a deadline, where its law allows, with the recorded reason."""
    found = _open(report_id)
    form = ClockForm()
    if action not in ("extend", "pause", "resume"):
        return _problem(_("Please check the form and try again."), _back_to(found))
    reason, db, recipient = (form.reason.data or "").strip(), _db(), _recipient()
    day = _day(found)
    change: Callable[[], object] = {
        "extend": lambda: casework.extend_clock(db, recipient, found, clock_id, form.months.data or 0, reason),
        "pause": lambda: casework.pause_clock(db, recipient, found, clock_id, reason, on=day),
        "resume": lambda: casework.resume_clock(db, recipient, found, clock_id, on=day),
    }[action]
    return _act(found, form, change, _("The deadline was changed; the reason is recorded."))


@bp.post("/reports/<report_id>/junk")
@auth.recipient_required
def junk(report_id: str) -> Response | tuple[str, int]:
    """Mark a report as junk (a flood's): the body's deadlines stop, the source may escalate at once."""
    found = _open(report_id)
    form = JunkForm()
    return _act(found, form,
                lambda: casework.mark_junk(_db(), _recipient(), found, form.reason.data or "", on=_day(found)),
                _("Marked as junk: your body's deadlines on it stopped. The source may now ask an independent body "
                  "to take it; giving it another status restarts the deadlines."))


@bp.post("/reports/<report_id>/transfer")
@auth.recipient_required
def transfer(report_id: str) -> Response | tuple[str, int]:
    found = _open(report_id)
    form = _transfer_form(found)
    target = form.target.data or ""
    sealed = None
    if form.sealed_key.data:
        # Sealed in the browser, with the key unlocked there, to the target's body key.
        try:
            sealed = (int(form.generation.data or 0), b64url_decode(form.sealed_key.data))
        except ValueError:
            return _problem(_("The sealed report key sent by your browser is damaged."), _back_to(found))
    return _act(found, form,
                lambda: _moved(found, casework.transfer(current_host(), _db(), _recipient(), found, target,
                                                        form.reason.data or "", sealed)),
                _("Report transferred to %(body)s. Your body no longer has access to it.", body=_body_name(target)),
                then=url_for("desk.inbox"))
