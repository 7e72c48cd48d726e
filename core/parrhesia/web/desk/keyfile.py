"""The desk's key-file page: a recipient may keep their passphrase-wrapped key file on
the server, for the browser to unlock (the passphrase never leaves the browser)."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from parrhesia.crypto import fingerprint, read_public_key_from_keyfile
from parrhesia.crypto.errors import KeyFileError
from parrhesia.domain import accounts
from parrhesia.web.desk import auth
from parrhesia.web.desk.forms import ActionForm, KeyFileForm
from parrhesia.web.desk.views import _db, _first_error, _problem, _recipient, bp

__all__ = ["key", "store_key", "forget_key", "key_data"]


@bp.get("/key")
@auth.recipient_required
def key() -> str:
    recipient = _recipient()
    return render_template("desk/key.html", form=KeyFileForm(formdata=None), forget_form=ActionForm(),
                           stored=recipient.wrapped_key is not None,
                           fingerprint=fingerprint(recipient.public_key))


@bp.post("/key")
@auth.recipient_required
def store_key() -> Response | tuple[str, int]:
    """Keep the passphrase-wrapped key file on the server (never the passphrase)."""
    recipient = _recipient()
    form = KeyFileForm()
    if not form.validate():
        return _problem(_first_error(form), url_for("desk.key"))
    data = (form.key_file.data or "").strip().encode("utf-8")
    try:
        public = read_public_key_from_keyfile(data)
    except KeyFileError:
        return _problem(_("This is not a Parrhesia key file."), url_for("desk.key"))
    if public != recipient.public_key:
        return _problem(_("This key file holds another key than the one registered for you."), url_for("desk.key"))
    accounts.store_key_file(_db(), recipient, data)
    flash(_("Your wrapped key file is kept on the server. Its passphrase never leaves your browser."), "success")
    return redirect(url_for("desk.key"), code=303)


@bp.post("/key/forget")
@auth.recipient_required
def forget_key() -> Response:
    accounts.forget_key_file(_db(), _recipient())
    flash(_("Your key file is no longer kept on the server."), "success")
    return redirect(url_for("desk.key"), code=303)


@bp.get("/key.json")
@auth.recipient_required
def key_data() -> dict[str, Any]:
    key_file = accounts.fetch_key_file(_db(), _recipient())
    return {"key_file": key_file.decode("utf-8") if key_file is not None else None}


