"""The web desk's intake: a recipient files a report for a person present or on the
telephone, sealed in the desk page (``static/desk/intake.js``), never on the server.

Step 1 works without JavaScript: the person's routing answers, routed on the server
as a source's are (:mod:`parrhesia.web.routing`), and the page says who will read the
report, who never will and why — and, when the officer's own body is the one excluded,
that the officer will not be able to read it. Step 2 runs in the page: the codename,
the report key and every part are made and sealed there; the server derives the
source's key from the codename (it alone holds the pepper) and stores the sealed
report after routing it again. Both are the API's intake (:mod:`parrhesia.web.api.intake`),
called with the desk's session instead of a token, so every rule stays in one place.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from flask import render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from wtforms import BooleanField, RadioField
from wtforms.validators import InputRequired

from parrhesia.contract.intake import InvalidAnswer, clean_routing_answers
from parrhesia.crypto import CODENAME_WORDS, wordlist
from parrhesia.crypto._encoding import b64url_encode
from parrhesia.domain import custody
from parrhesia.domain.host import current_host
from parrhesia.domain.reports import INTAKE_CHANNELS
from parrhesia.web import routing
from parrhesia.web.api import intake as api_intake
from parrhesia.web.api.views import JSON_LIMIT, _json_body
from parrhesia.web.desk import auth
from parrhesia.web.desk.views import _body_name, _db, _first_error, _recipient, bp
from parrhesia.web.security import StorableForm
from parrhesia.web.source.readers import routing_view

__all__ = ["IntakeForm", "intake_form", "intake_review", "intake_wordlist", "intake_source", "intake_file"]


_CHANNEL_LABELS = {"in-person": _l("In person"), "telephone": _l("By telephone")}  # one for each of INTAKE_CHANNELS


class IntakeForm(StorableForm):
    """How the report is taken, and whether the person agrees to the officer being named."""

    channel = RadioField(_l("How the person reports"), validators=[InputRequired(message=_l("Choose how the person reports."))],
                         choices=[(channel, _CHANNEL_LABELS[channel]) for channel in INTAKE_CHANNELS],
                         default="in-person", id="intake-channel")
    name_officer = BooleanField(_l("The person agrees that the report names me as the officer who took it "
                                   "(otherwise it names only my body)"), id="intake-name-officer")


def _page(form: IntakeForm, answers: dict[str, Any], *, error: str | None = None, status: int = 200) -> tuple[str, int]:
    return render_template("desk/intake.html", form=form, fields=current_host().routing_fields, answers=answers,
                           error=error), status


@bp.get("/intake")
@auth.recipient_required
def intake_form() -> tuple[str, int]:
    """Step 1: the routing questions, the channel, the person's consent to name the officer."""
    return _page(IntakeForm(formdata=None), {})


@bp.post("/intake")
@auth.recipient_required
def intake_review() -> tuple[str, int]:
    """Where the report goes and who never receives it; then the sealing form (step 2)."""
    form = IntakeForm()
    raw = {name: values for name, values in request.form.to_dict(flat=False).items()
           if name not in ("csrf_token", "channel", "name_officer")}
    if not form.validate():
        # The form's own message (an expired or missing form token says so), the channel's otherwise.
        return _page(form, raw, error=_first_error(form), status=400)
    try:
        answers = clean_routing_answers(current_host().routing_fields, raw)
    except InvalidAnswer as problem:
        return _page(form, raw, error=_("Please check the answer to: %(question)s", question=problem.field.label),
                     status=400)
    decision = routing.decide(answers)
    if decision is None:
        return _page(form, raw, status=409, error=_(
            "This report cannot be routed safely on this instance. Nothing was stored. Tell its operators."))
    officer = _recipient()
    route = api_intake.describe_route(answers, decision, officer)
    own_body = officer.body_id
    day = date.fromisoformat(route["day"])
    hosts = route["instance"]["source_hosts"]
    return render_template(
        "desk/intake_review.html",
        form=form,
        routing=routing_view(decision, day),
        route=route,
        own_body=own_body,
        own_excluded=next((reason for body, reason in ((e.body_id, e.reason) for e in decision.excluded)
                           if body == own_body), None),
        receivers=[_body_name(b) for b in decision.route],
        others=[(k, _body_name(k["body"])) for k in route["body_keys"] if k["body"] != own_body],
        keyring=custody.keyring_data(_db(), officer, b64url_encode) if route["your_body_holds_key"] else [],
        stored_key=officer.wrapped_key is not None,
        addresses=[f"http://{host}" for host in hosts] if hosts else [request.host_url.rstrip("/")],
        day=day,
    ), 200


def _json(answer: Callable[[], tuple[dict[str, Any], int] | dict[str, Any]]) -> tuple[dict[str, Any], int]:
    """The API's answer, or its refusal as JSON for the page's script (never the desk's HTML error page)."""
    try:
        result = answer()
    except HTTPException as problem:
        return {"error": problem.description or problem.name}, problem.code or 400
    return result if isinstance(result, tuple) else (result, 200)


@bp.get("/intake/wordlist.json")
@auth.recipient_required
def intake_wordlist() -> dict[str, Any]:
    """The codename wordlist, for the page to draw a codename exactly as
    :func:`parrhesia.crypto.generate_codename` does (the words are public)."""
    return {"words": list(wordlist()), "length": CODENAME_WORDS}


@bp.post("/intake/source")
@auth.recipient_required
def intake_source() -> tuple[dict[str, Any], int]:
    """The source's public key and lookup id for the codename made in the page
    (CSRF in X-CSRFToken); the codename is neither stored nor logged."""
    return _json(lambda: api_intake.source_identity(_json_body()))


@bp.post("/intake/reports")
@auth.recipient_required
def intake_file() -> tuple[dict[str, Any], int]:
    """Store the report sealed in the page (CSRF in X-CSRFToken), as the API does."""
    officer = _recipient()
    return _json(lambda: api_intake.file_intake(_json_body(api_intake.INTAKE_LIMIT + JSON_LIMIT), officer))
