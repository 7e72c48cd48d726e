"""The source interface: plain HTML forms that work in Tor Browser at "Safest".

:mod:`~parrhesia.web.source.submission` makes a report, :mod:`~parrhesia.web.source.casefile`
is the source's own report page, :mod:`~parrhesia.web.source.readers` shows its routing,
:mod:`~parrhesia.web.source.session` keeps a logged-in source without their codename,
:mod:`~parrhesia.web.source.receipt` gives the source their signed proof of reporting,
:mod:`~parrhesia.web.source.key_manifest` serves and shows the signed key manifest.
"""

from flask import Blueprint

bp = Blueprint("source", __name__)

# Imported for their routes, which they register on bp.
from parrhesia.web.source import casefile, key_manifest, receipt, submission  # noqa: E402,F401

__all__ = ["bp"]
