"""The desk's protection requests: the ones a recipient's body handles, and their status.

A request's details are decrypted in the browser, like a report's parts (the desk's
script, with the key unlocked there) or with ``parrhesia desk pull``; the server
only lists the requests and records status changes.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from parrhesia.domain import protection_requests
from parrhesia.domain.audit import actor_of
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.host import current_host
from parrhesia.storage.db import get_session
from parrhesia.storage.models import ProtectionRequest
from parrhesia.web.desk import auth
from parrhesia.web.desk.forms import ProtectionStatusForm
from parrhesia.web.desk.views import _body_name, _problem, _recipient, bp

__all__ = ["protection", "protection_status"]


def _form(row: ProtectionRequest | None = None) -> ProtectionStatusForm:
    form = ProtectionStatusForm(formdata=None, status=row.status) if row is not None else ProtectionStatusForm()
    form.status.choices = [(s, s) for s in protection_requests.STATUSES]
    return form


@bp.get("/protection")
@auth.recipient_required
def protection() -> str:
    recipient = _recipient()
    labels = {m.id: str(m.label) for m in current_host().measures}
    rows = protection_requests.requests_for_body(get_session(), recipient.body_id)
    return render_template("desk/protection.html", rows=[(r, labels.get(r.measure_id, r.measure_id), _form(r)) for r in rows],
                           body=_body_name(recipient.body_id))


@bp.post("/protection/<request_id>/status")
@auth.recipient_required
def protection_status(request_id: str) -> Response | tuple[str, int]:
    recipient = _recipient()
    db = get_session()
    row = db.get(ProtectionRequest, request_id)
    if row is None or not protection_requests.may_handle(row, recipient.body_id):
        return _problem(_("No such protection request for your body."), url_for("desk.protection"), status=404)
    form = _form()
    if not form.validate():
        return _problem(_("Choose a status."), url_for("desk.protection"))
    try:
        protection_requests.set_status(db, row, form.status.data or "", actor=actor_of(recipient),
                                       on=report_day(current_host().config, row.report))
    except protection_requests.ProtectionError as problem:
        return _problem(str(problem), url_for("desk.protection"))
    flash(_("The request is now %(status)s; the source sees it on their report page.", status=row.status), "success")
    return redirect(url_for("desk.protection"), code=303)
