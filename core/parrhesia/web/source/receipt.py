"""The source's receipt: a signed file to download, and the same facts on a page to print.

Only the logged-in source of a report gets its receipt (the report comes from their
session, never from the URL), and nothing of it is stored or logged. Plain links, so
both work with JavaScript off.
"""

from __future__ import annotations

import logging

from flask import abort, render_template
from flask_babel import gettext as _
from nacl.signing import SigningKey
from werkzeug.wrappers import Response

from parrhesia.config import ConfigError
from parrhesia.crypto import fingerprint
from parrhesia.crypto.receipt import encode_verify_key, verify_receipt
from parrhesia.domain import receipts
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.host import current_host
from parrhesia.instance import current_instance, receipt_signing_key
from parrhesia.storage.models import Report
from parrhesia.web.source import bp
from parrhesia.web.source import session as source_session

__all__ = ["published_key", "receipt_file", "receipt_page"]

log = logging.getLogger(__name__)


@bp.get("/report/receipt")
def receipt_file() -> Response:
    """The signed receipt, as a file to keep."""
    report = _own_report()
    data = _issue(report)
    filename = f"parrhesia-receipt-{receipts.reference_of(report)}.txt"
    return Response(data, mimetype="text/plain", headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@bp.get("/report/receipt/print")
def receipt_page() -> str:
    """The receipt's facts and its signed text, on a page made to be printed."""
    data = _issue(_own_report())
    return render_template("receipt.html", receipt=verify_receipt(data), text=data.decode("utf-8"))


def published_key() -> tuple[str, str] | None:
    """The instance's receipt key in text and its fingerprint, for the landing page;
    None (and an error in the log) if it cannot be read or made."""
    key = _signing_key()
    if key is None:
        return None
    public = bytes(key.verify_key)
    return encode_verify_key(public), fingerprint(public)


def _signing_key() -> SigningKey | None:
    try:
        return receipt_signing_key(current_instance().config)
    except (ConfigError, OSError) as problem:
        # A page must not fail because of it; `parrhesia doctor` says what to do.
        log.error("the receipt signing key cannot be read or made (%s): run `parrhesia doctor`",
                  type(problem).__name__)
        return None


def _own_report() -> Report:
    found = source_session.current()
    if found is None:
        abort(403, _("Your session has ended. Log in again with your codename to get your receipt."))
    return found[0]


def _issue(report: Report) -> bytes:
    key = _signing_key()
    if key is None:
        abort(503, _("Receipts cannot be issued at the moment. Your report is safe; please try again later."))
    config = current_instance().config
    return receipts.issue(report, current_host().directory, key, instance_name=config.name,
                          on=report_day(config, report))
