"""The API's intake routes: a recipient files a report for a person present or on the
telephone (``parrhesia desk intake``).

The officer's machine asks the route (``POST /intake/route``: the same decision a
source's review page shows, with the body keys to seal to), has the codename it made
turned into the source's public key and lookup id (``POST /intake/source``: this needs
the instance pepper, which never leaves the server), then sends the report sealed
there (``POST /intake``). The server routes again and stores only what fits its own
decision; it never sees the content or the report key (docs/format.md §11).
"""

from __future__ import annotations

import re
from typing import Any

from flask import abort
from flask_babel import force_locale

from parrhesia.contract.intake import InvalidAnswer, clean_routing_answers
from parrhesia.crypto import (
    decode_public_key,
    derive_source_identity,
    encode_public_key,
    fingerprint,
    normalise_codename,
)
from parrhesia.domain import custody, reports
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import current_host
from parrhesia.domain.routing import RouteDecision
from parrhesia.instance import current_instance
from parrhesia.offload import blocking
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Recipient, Report
from parrhesia.web import routing
from parrhesia.web.api.views import JSON_LIMIT, _b64, _base64, _json_body, _new_part_id, _recipient, _text, bp
from parrhesia.web.source.submission import log_failures, notify_duty_at_once

__all__ = ["INTAKE_LIMIT", "route", "source", "intake", "describe_route", "source_identity", "file_intake"]

# The whole sealed report arrives as one JSON body read into memory: a message and a few
# scanned documents. Larger files the person sends online, with the codename.
INTAKE_LIMIT = 16 * 1024 * 1024
_REPORT_ID = re.compile(r"^[0-9a-f]{32}$")


def _answers(data: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    """The routing answers, checked exactly as the source's form checks them."""
    fields = data.get("fields")
    if not isinstance(fields, dict) or not all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in fields.values()
    ):
        abort(400, '"fields" must map routing field names to lists of strings.')
    host = current_host()
    unknown = sorted(set(fields) - {f.name for f in host.routing_fields})
    if unknown:
        abort(400, f"Not routing questions of this instance: {', '.join(unknown)}.")
    try:
        return clean_routing_answers(host.routing_fields, fields)
    except InvalidAnswer as problem:
        abort(400, f"Check the answer to {problem}.")


def _decide(answers: dict[str, tuple[str, ...]]) -> RouteDecision:
    decision = routing.decide(answers)
    if decision is None:
        abort(409, "This report cannot be routed safely on this instance; nothing was stored. Tell its operators.")
    return decision


@bp.post("/intake/route")
def route() -> dict[str, Any]:
    """Who will receive a report with these routing answers, who never will and why, the
    deadlines, and the current key of every body the report key must be sealed to."""
    answers = _answers(_json_body())
    return describe_route(answers, _decide(answers), _recipient())


def describe_route(answers: dict[str, tuple[str, ...]], decision: RouteDecision, officer: Recipient) -> dict[str, Any]:
    """The answer of ``POST /intake/route`` (the web desk's intake page holds the same)."""
    with force_locale("en"):
        described = decision.as_dict(current_host().directory)
    keys = custody.current_keys(get_session(), reports.sealed_to(decision))
    return {
        **described,
        "fields": {name: list(values) for name, values in answers.items()},
        "day": report_day(current_instance().config, jurisdiction=routing.jurisdiction(answers)).isoformat(),
        "body_keys": [{"body": body_id, "generation": key.generation, "public_key": encode_public_key(key.public_key),
                       "fingerprint": fingerprint(key.public_key)} for body_id, key in sorted(keys.items())],
        "your_body_receives": officer.body_id in decision.route,
        # The report key is sealed to the officer's own body (on the route or in its
        # escalation chain): the officer's machine checks that body's key against the
        # keyring it holds, not against a fingerprint confirmed out of band.
        "your_body_holds_key": officer.body_id in keys,
        # For the person's slip: where to continue online (the source host names of
        # [hosts]; none set: every host name serves the source pages).
        "instance": {"name": current_instance().config.name,
                     "source_hosts": list(current_instance().config.hosts.get("source", ()))},
    }


@bp.post("/intake/source")
def source() -> dict[str, Any]:
    """The source's public key and lookup id for a codename made on the officer's machine.

    Derived with the instance pepper (Argon2id), as at a source's log-in; the codename
    is neither stored nor logged."""
    return source_identity(_json_body())


def source_identity(data: dict[str, Any]) -> dict[str, Any]:
    """The answer of ``POST /intake/source`` for its JSON body (the web desk's too)."""
    try:
        codename = normalise_codename(_text(data, "codename"))
    except ValueError as problem:
        abort(400, str(problem))
    instance = current_instance()
    identity = blocking(derive_source_identity, codename, instance.pepper, instance.codename_kdf)  # Argon2id
    return {"public_key": encode_public_key(identity.public_key), "lookup_id": _b64(identity.lookup_id)}


@bp.post("/intake")
def intake() -> tuple[dict[str, Any], int]:
    """Store a report sealed on the officer's machine: routed again here, its key sealed
    to exactly the bodies of this route and escalation chain that have a key."""
    return file_intake(_json_body(INTAKE_LIMIT + JSON_LIMIT), _recipient())


def file_intake(data: dict[str, Any], officer: Recipient) -> tuple[dict[str, Any], int]:
    """Store the report of ``POST /intake``'s JSON body, filed by ``officer`` (from the
    API or the web desk): the same checks, the same routing, the same record."""
    answers = _answers(data)
    report_id = _text(data, "id")
    if not _REPORT_ID.match(report_id):
        abort(400, "A report id is 32 lowercase hexadecimal characters.")
    db = get_session()
    if db.get(Report, report_id) is not None:
        abort(409, "A report with this id already exists.")
    try:
        public_key = decode_public_key(_text(data, "public_key"))
    except ValueError as problem:
        abort(400, str(problem))
    name_officer = data.get("name_officer", False)
    if not isinstance(name_officer, bool):
        abort(400, '"name_officer" must be true or false.')
    body_sealed = {}
    for entry in _list(data, "bodies"):
        generation = entry.get("generation")
        if not isinstance(generation, int) or isinstance(generation, bool):
            abort(400, 'Each sealed key needs its body key "generation".')
        body_sealed[_text(entry, "body")] = (generation, _base64(entry.get("sealed_key"), '"sealed_key"'))
    seen: set[str] = set()
    parts = []
    for entry in _list(data, "parts"):
        part_id = _new_part_id(entry.get("id"))
        if part_id in seen:
            abort(400, "Two parts have the same id.")
        seen.add(part_id)
        parts.append(reports.SealedPart(part_id, _text(entry, "kind"), _base64(entry.get("ciphertext"), '"ciphertext"')))
    decision = _decide(answers)
    instance, host = current_instance(), current_host()
    try:
        report, events = reports.store_intake(
            db, instance.blobs, officer=officer, channel=_text(data, "channel"), report_id=report_id,
            report_public_key=public_key, lookup_id=_base64(data.get("lookup_id"), '"lookup_id"'),
            source_sealed=_base64(data.get("source_sealed_key"), '"source_sealed_key"'), body_sealed=body_sealed,
            decision=decision, fields=answers, parts=parts,
            on=report_day(instance.config, jurisdiction=routing.jurisdiction(answers)), name_officer=name_officer,
        )
    except custody.CustodyError as problem:
        abort(409, str(problem))
    log_failures(decision.failures)
    dispatch(host, db, events, on=report.created_on)
    if decision.duty:
        notify_duty_at_once(decision.duty, report.id)
    return {
        "id": report.id,
        "created_on": report.created_on.isoformat(),
        "intake": report.intake,
        "intake_body": report.intake_body,
        "route": list(decision.route),
        "escalation": [s.body_id for s in decision.escalation],
        "excluded": [e.body_id for e in decision.excluded],
        "your_body_receives": officer.body_id in decision.route,
    }, 201


def _list(data: dict[str, Any], name: str) -> list[dict[str, Any]]:
    value = data.get(name)
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        abort(400, f'"{name}" must be a list of objects.')
    return value
