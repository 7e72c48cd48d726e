"""The web desk's evidence package (issue 11 item 3): what the report page's script
(``static/desk/evidence.js``) needs, besides the parts it has decrypted, to build in the
browser the package ``parrhesia desk export`` writes (docs/format.md §10).

The server hands out the same record the API gives the command line
(:mod:`parrhesia.web.evidence_record`); the decrypted files, their hashes, the exporter's
signature and the ZIP are made in the page and never reach the server.
"""

from __future__ import annotations

from typing import Any

from flask import request

from parrhesia.web import evidence_record
from parrhesia.web.desk import auth
from parrhesia.web.desk.views import _db, _open, _recipient, bp

__all__ = ["evidence_data"]


@bp.get("/reports/<report_id>/evidence.json")
@auth.recipient_required
def evidence_data(report_id: str) -> dict[str, Any]:
    """The instance's address, the report's facts, its record (audit entries vouched for
    by the instance, bodies, escalations, clocks) and who is exporting it."""
    recipient = _recipient()
    found = _open(report_id)
    return {
        "instance": request.host_url.rstrip("/"),
        "report": evidence_record.facts(found),
        "record": evidence_record.record(_db(), found, recipient),
        "exporter": evidence_record.recipient_facts(recipient),
    }
