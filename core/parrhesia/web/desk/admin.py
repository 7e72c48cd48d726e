"""The desk's administration pages: a body administrator's colleagues, and the
operators' view of the instance's health (never a report's content)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from werkzeug.wrappers import Response

from parrhesia.contract.manager import describe_plugins
from parrhesia.crypto import decode_public_key, fingerprint
from parrhesia.domain import accounts, audit, custody
from parrhesia.domain.accounts import add_recipient
from parrhesia.domain.host import current_host
from parrhesia.instance import current_instance
from parrhesia.storage.models import PluginError, Recipient
from parrhesia.web.desk import auth
from parrhesia.web.desk.forms import ActionForm, NewRecipientForm
from parrhesia.web.desk.views import _body_name, _db, _first_error, _problem, _recipient, bp
from parrhesia.web.source import work

__all__ = ["body", "add_colleague", "deactivate_colleague", "operator"]

_ERROR_LIMIT = 100


@bp.get("/body")
@auth.recipient_required
def body() -> str:
    recipient = _recipient()
    if recipient.role != "body_admin":
        abort(403)
    members = accounts.members_of(_db(), recipient)
    return render_template("desk/body.html", members=members, fingerprint=fingerprint, form=NewRecipientForm(),
                           action_form=ActionForm())


def _body_admin() -> Recipient:
    recipient = _recipient()
    if recipient.role != "body_admin":
        abort(403)
    return recipient


@bp.post("/body/recipients")
@auth.recipient_required
def add_colleague() -> str | tuple[str, int]:
    """A body administrator registers a colleague of the same body; the API token is
    shown once. The key was made on the colleague's machine; only its public half is here."""
    admin = _body_admin()
    form = NewRecipientForm()
    back = url_for("desk.body")
    if not form.validate():
        return _problem(_first_error(form), back)
    try:
        public_key = decode_public_key(form.public_key.data or "")
    except ValueError:
        return _problem(_("That is not a Parrhesia public key (it starts with prh1pk_)."), back)
    db = _db()
    if accounts.login_name_taken(db, form.login_name.data or ""):
        return _problem(_("That log-in name is taken."), back)
    token = add_recipient(db, body_id=admin.body_id, name=form.name.data or "", public_key=public_key,
                          login_name=form.login_name.data, password=form.password.data,
                          actor=audit.actor_of(admin), on=current_instance().config.today())
    return render_template("desk/token.html", name=form.name.data, token=token, fingerprint=fingerprint(public_key))


# A recipient id fits the database's integer column: a larger one is "not found", not a 500.
@bp.post("/body/recipients/<int(max=2147483647):member_id>/deactivate")
@auth.recipient_required
def deactivate_colleague(member_id: int) -> Response | tuple[str, int]:
    """Revoke a colleague of the same body: their token and desk sessions stop working,
    and new reports are no longer sealed to their key."""
    admin = _body_admin()
    back = url_for("desk.body")
    if not ActionForm().validate():
        return _problem(_("Please check the form and try again."), back)
    db = _db()
    member = db.get(Recipient, member_id)
    if member is None or member.body_id != admin.body_id:
        abort(404)
    if member.id == admin.id:
        return _problem(_("You cannot deactivate yourself; ask another administrator of your body."), back)
    accounts.deactivate_recipient(db, member, actor=audit.actor_of(admin))
    flash(_("%(name)s is deactivated.", name=member.name), "success")
    return redirect(back, code=303)


@bp.get("/operator")
@auth.operator_required
def operator() -> str:
    """The instance's health for its operators: plugins, their errors, the audit chain. No report content."""
    account = auth.current()
    if account is None:  # pragma: no cover - operator_required
        abort(403)
    host = current_host()
    db = _db()
    entries, problem = audit.review(db, account.record)
    errors = list(db.scalars(select(PluginError).order_by(PluginError.id.desc()).limit(_ERROR_LIMIT)))
    plugins = describe_plugins(host.manager, host.config.plugins)
    readable = custody.readable_bodies(db)
    unreadable = sorted((b for b in host.directory.bodies.values() if b.id not in readable), key=lambda b: b.name)
    rotate = [b for b in sorted(readable) if custody.needs_rotation(db, b)]
    return render_template("desk/operator.html", plugins=plugins, errors=errors, problem=problem, entries=entries,
                           unreadable=unreadable, rotate=[_body_name(b) for b in rotate], flood=work.meter().figures())
