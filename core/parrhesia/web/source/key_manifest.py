"""The signed key manifest, served at a fixed address (``/keys/manifest.txt``) and shown
on the source pages: which body keys it vouches for, signed when, by which offline key
(:mod:`parrhesia.domain.key_manifest`)."""

from __future__ import annotations

import logging

from flask import Response, abort, g
from flask_babel import gettext as _

from parrhesia.crypto.manifest import ManifestError, VerifiedManifest
from parrhesia.domain import key_manifest as manifests
from parrhesia.instance import current_instance
from parrhesia.web.source import bp

__all__ = ["key_manifest", "key_manifest_file", "manifest_vouches"]

log = logging.getLogger(__name__)
_MISSING = object()


@bp.app_template_global()
def key_manifest() -> VerifiedManifest | None:
    """The installed manifest, checked once per request; None if there is none or it does
    not verify (then logged: `parrhesia doctor` says what to do)."""
    found = g.get("parrhesia_key_manifest", _MISSING)
    if found is _MISSING:
        try:
            found = manifests.installed(current_instance().config)
        except (ManifestError, OSError) as problem:
            log.error("the installed key manifest does not verify (%s): run `parrhesia doctor`", type(problem).__name__)
            found = None
        g.parrhesia_key_manifest = found
    return found if isinstance(found, VerifiedManifest) else None


@bp.app_template_global()
def manifest_vouches(body_id: str, key_fingerprint: str | None) -> bool | None:
    """Whether the manifest lists this body key (None: no manifest to ask)."""
    manifest = key_manifest()
    if manifest is None:
        return None
    listed = manifest.facts.body_key(body_id)
    return listed is not None and key_fingerprint is not None and listed.fingerprint == key_fingerprint


@bp.get("/keys/manifest.txt")
def key_manifest_file() -> Response:
    manifest = key_manifest()
    if manifest is None:
        abort(404, _("This instance publishes no signed key manifest yet."))
    return Response(manifest.text, mimetype="text/plain", headers={"Cache-Control": "no-cache"})
