"""The API's protection-request routes, for the body competent for each request."""

from __future__ import annotations

from typing import Any

from flask import Response, abort

from parrhesia.domain import audit, custody, protection_requests
from parrhesia.instance import current_instance
from parrhesia.storage.db import get_session
from parrhesia.storage.models import ProtectionRequest
from parrhesia.web.api.views import _b64, _json_body, _recipient, _text, bp
from parrhesia.web.ciphertext import ciphertext_response

__all__ = ["list_protection_requests", "protection_part", "protection_status"]


def _describe_protection(request: ProtectionRequest) -> dict[str, Any]:
    """A request, with the keys this recipient may hold: the details always, the
    identity only once the source consented or a custodian's decision took effect."""
    day = current_instance().config.today()
    readable = protection_requests.identity_readable(request, on=day)
    mine = custody.sealed_for(get_session(), _recipient(), request.report)

    def key(holder: str, part_id: str | None) -> dict[str, Any]:
        found = mine.get((holder, part_id)) if part_id else None
        return {"sealed_key": _b64(found.sealed) if found else None, "generation": found.generation if found else None}

    return {
        "id": request.id,
        "report_id": request.report_id,
        "measure": request.measure_id,
        "status": request.status,
        "created_on": request.created_on.isoformat(),
        "updated_on": request.updated_on.isoformat(),
        "body": request.body_id,
        # Details: sealed to the competent body's key when it was asked; a body that took
        # the request over opens them through the report key ("report_sealed_key").
        "details": {"part_id": request.details_part_id, **key("protection", request.details_part_id),
                    "report_sealed_key": _b64(mine[("report", request.details_part_id)].sealed)
                    if ("report", request.details_part_id) in mine else None}
        if request.details_part_id else None,
        "identity": {
            "state": request.identity_state,
            "part_id": request.identity_part_id if readable else None,
            **(key("identity", request.identity_part_id) if readable else {"sealed_key": None, "generation": None}),
        },
    }


def _protection_or_404(request_id: str) -> ProtectionRequest:
    request = get_session().get(ProtectionRequest, request_id)
    if request is None or not protection_requests.may_handle(request, _recipient().body_id):
        abort(404, "No such protection request for your body.")
    return request


@bp.get("/protection-requests")
def list_protection_requests() -> dict[str, Any]:
    """Protection requests sent to the recipient's body."""
    rows = protection_requests.requests_for_body(get_session(), _recipient().body_id)
    return {"protection_requests": [_describe_protection(r) for r in rows]}


@bp.get("/protection-requests/<request_id>/parts/<part_id>")
def protection_part(request_id: str, part_id: str) -> Response:
    """The ciphertext of a request's details, or of its identity once readable."""
    request = _protection_or_404(request_id)
    if not protection_requests.download_part(get_session(), _recipient(), request, part_id,
                                             on=current_instance().config.today()):
        abort(404, "No such part, or not readable yet.")
    return ciphertext_response(part_id)


@bp.post("/protection-requests/<request_id>/status")
def protection_status(request_id: str) -> dict[str, Any]:
    """Change a request's status; the source sees it on their report page."""
    request = _protection_or_404(request_id)
    status = _text(_json_body(), "status")
    try:
        protection_requests.set_status(get_session(), request, status, actor=audit.actor_of(_recipient()),
                                       on=current_instance().config.today())
    except protection_requests.ProtectionError as error:
        abort(400, str(error))
    return _describe_protection(request)
