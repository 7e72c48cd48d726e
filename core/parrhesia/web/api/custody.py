"""The API's body-key routes: a recipient's keyring, and the custody steps only a
member's machine can take — founding the body key, vouching for a colleague, rotating
the key (docs/format.md §1). The server stores what arrives sealed; it can add no reader."""

from __future__ import annotations

import re
from typing import Any

from flask import abort

from parrhesia.crypto import decode_public_key, fingerprint
from parrhesia.domain import custody
from parrhesia.instance import current_instance
from parrhesia.storage.db import get_session
from parrhesia.storage.models import Recipient
from parrhesia.web.api.views import _b64, _base64, _json_body, _recipient, _text, bp

__all__ = ["keyring", "found_body_key", "vouch", "rotate_body_key"]


@bp.get("/keyring")
def keyring() -> dict[str, Any]:
    """Every generation of the recipient's body key: its public key, the previous
    generation sealed to it, and this recipient's grant with who vouched for them."""
    return {"body": _recipient().body_id, "keyring": custody.keyring_data(get_session(), _recipient(), _b64)}


def _custody_refused(call: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return call(*args, **kwargs)
    except custody.CustodyError as problem:
        abort(409, str(problem))


@bp.post("/body-key")
def found_body_key() -> tuple[dict[str, Any], int]:
    """Create the body's first key, made on this recipient's machine: ``public_key``
    (prh1pk_…) and ``grant`` (the body private key boxed from this recipient to
    themselves). Refused once the body has a key."""
    data = _json_body()
    try:
        public_key = decode_public_key(_text(data, "public_key"))
    except ValueError as problem:
        abort(400, str(problem))
    recipient = _recipient()
    key = _custody_refused(custody.found_body_key, get_session(), recipient, public_key,
                           _base64(data.get("grant"), '"grant"'), on=current_instance().config.today())
    return {"generation": key.generation, "fingerprint": fingerprint(key.public_key)}, 201


@bp.post("/body-key/grants")
def vouch() -> tuple[dict[str, Any], int]:
    """Vouch for a colleague: ``recipient`` (id), ``generation`` and ``grant`` (the body
    private key boxed, on this recipient's machine, from this recipient to the colleague)."""
    data = _json_body()
    member_id, generation = data.get("recipient"), data.get("generation")
    if (not isinstance(member_id, int) or isinstance(member_id, bool) or not isinstance(generation, int)
            or isinstance(generation, bool) or generation < 1):
        abort(400, '"recipient" and "generation" are required and must be whole numbers.')
    db = get_session()
    member = db.get(Recipient, member_id)
    if member is None:
        abort(409, "That person is not an active recipient of your body.")
    _custody_refused(custody.vouch, db, _recipient(), member, generation, _base64(data.get("grant"), '"grant"'),
                     on=current_instance().config.today())
    return {"recipient": member_id, "generation": generation}, 201


@bp.post("/body-key/rotation")
def rotate_body_key() -> tuple[dict[str, Any], int]:
    """A new generation of the body key: ``public_key``, ``previous_sealed`` (the current
    generation's private key sealed to the new one) and ``grants`` (recipient id →
    boxed new private key) for the members kept."""
    data = _json_body()
    try:
        public_key = decode_public_key(_text(data, "public_key"))
    except ValueError as problem:
        abort(400, str(problem))
    replaces = data.get("generation")
    if not isinstance(replaces, int) or isinstance(replaces, bool) or replaces < 1:
        abort(400, '"generation" (the generation this rotation replaces) is required and must be a positive integer.')
    grants_in = data.get("grants")
    if not isinstance(grants_in, dict):
        abort(400, '"grants" must map recipient ids to base64 grants.')
    grants: dict[int, bytes] = {}
    for raw_id, raw in grants_in.items():
        if not re.fullmatch(r"[0-9]{1,12}", str(raw_id)):
            abort(400, f"{raw_id!r} in grants is not a recipient id.")
        grants[int(raw_id)] = _base64(raw, f"The grant for recipient {raw_id}")
    key = _custody_refused(custody.rotate_body_key, get_session(), _recipient(), public_key,
                           _base64(data.get("previous_sealed"), '"previous_sealed"'), grants,
                           on=current_instance().config.today(), replaces=replaces)
    return {"generation": key.generation, "fingerprint": fingerprint(key.public_key)}, 201


