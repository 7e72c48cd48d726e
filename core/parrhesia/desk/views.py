"""Views of the recipients' desk (being built: log-in, inbox, report page, actions)."""

from __future__ import annotations

from flask import Blueprint

__all__ = ["bp"]

bp = Blueprint("desk", __name__, url_prefix="/desk")
