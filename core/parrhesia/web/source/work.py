"""The work a source's forms cost during a flood, and the ceilings (parrhesia.domain.flood).

Templates call ``work_form(kind)`` to put a fresh challenge in a form; views call
:func:`ceiling` before anything costly and :func:`require` on the form's challenge, and
:func:`spend` once it has been used, so a challenge that was waited for once cannot
carry a second report or a second guess.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from flask import Flask, current_app
from flask_babel import gettext as _
from werkzeug.exceptions import BadRequest, HTTPException, ServiceUnavailable, TooManyRequests

from parrhesia.domain import form_tokens
from parrhesia.domain.flood import FloodMeter, Verdict, challenge_key
from parrhesia.instance import Instance, current_instance
from parrhesia.storage.db import get_session

__all__ = ["FLOOD_METER", "install", "work_form", "meter", "ceiling", "require", "spend", "FormTooEarly", "OverCeiling", "challenge_of",
           "CHALLENGE_FIELD", "SOLUTION_FIELD"]

FLOOD_METER = "parrhesia.flood"
CHALLENGE_FIELD = "work_challenge"
SOLUTION_FIELD = "work_solution"


class _RetryAfter(HTTPException):
    """A refusal that says, in Retry-After, when to send again (``seconds``)."""

    seconds = 1

    def get_headers(self, *args: object, **kwargs: object) -> list[tuple[str, str]]:
        return [*super().get_headers(*args, **kwargs), ("Retry-After", str(self.seconds))]  # type: ignore[arg-type]


class FormTooEarly(_RetryAfter, TooManyRequests):
    """A form sent before its wait ended, without a solution; nothing of it was kept."""

    def __init__(self, seconds: int, *, kind: str) -> None:
        if kind == "submit":
            text = _(
                "Many reports are arriving at this moment, so this form can only be sent %(seconds)s seconds after "
                "it was opened. Nothing was stored. What you wrote is still in the form: go back with your "
                "browser's Back button, wait, and send it again.", seconds=seconds)
        else:
            text = _("Many people are logging in at this moment. Wait %(seconds)s seconds, then send your codename "
                     "again.", seconds=seconds)
        super().__init__(text)
        self.seconds = max(1, seconds)


class OverCeiling(_RetryAfter, ServiceUnavailable):
    """More requests of a kind this minute than the instance takes; nothing was kept."""

    def __init__(self, seconds: int, *, kind: str) -> None:
        if kind == "submit":
            text = _(
                "This site is receiving more reports than it can take at this moment. Nothing was sent or stored. "
                "What you wrote is still in the form: go back with your browser's Back button and send it again "
                "in %(seconds)s seconds.", seconds=seconds)
        elif kind == "follow-up":
            text = _(
                "This site is receiving more messages than it can take at this moment. Nothing was sent or stored. "
                "What you wrote is still in the form: go back with your browser's Back button and send it again "
                "in %(seconds)s seconds.", seconds=seconds)
        else:
            text = _("Too many people are logging in at this moment. Try again in %(seconds)s seconds.", seconds=seconds)
        super().__init__(text)
        self.seconds = seconds


class InvalidChallenge(BadRequest):
    def __init__(self) -> None:
        super().__init__(_("The form expired or was not sent from this site. Nothing was stored; please reload the page."))


def install(app: Flask, instance: Instance) -> None:
    """The app's meter: the instance's, shared with the other serving processes when
    the server made it so before forking (flood.share_between_processes)."""
    app.extensions[FLOOD_METER] = FloodMeter(instance.config.flood, challenge_key(instance.secret_key))
    app.add_template_global(work_form, "work_form")


def work_form(kind: str) -> dict[str, object]:
    """For a template: a fresh challenge's token and the wait it asks (0 outside a flood)."""
    token, challenge = meter().issue(kind)
    return {"token": token, "wait": challenge.wait, "bits": challenge.bits}


def meter() -> FloodMeter:
    found = current_app.extensions[FLOOD_METER]
    assert isinstance(found, FloodMeter)  # nosec B101 - set by install(), read back with its type
    return found


def ceiling(kind: str) -> None:
    """Count one request of ``kind`` under its ceiling, or refuse it (503, Retry-After)."""
    seconds = meter().take(kind)
    if seconds:
        raise OverCeiling(seconds, kind=kind)


def require(fields: Mapping[str, Sequence[str]], *, kind: str) -> str:
    """The form's challenge if it was waited for or solved; else refuse (429 or 400)."""
    token = _first(fields, CHALLENGE_FIELD)
    max_age = int(current_app.permanent_session_lifetime.total_seconds())  # Flask keeps it a timedelta
    check = meter().check(token, _first(fields, SOLUTION_FIELD), kind=kind, max_age=max_age)
    if check.verdict is Verdict.EARLY:
        raise FormTooEarly(check.seconds_left, kind=kind)
    if check.verdict is Verdict.INVALID:
        raise InvalidChallenge()
    return token


def spend(token: str, *, kind: str) -> bool:
    """Mark the challenge used; False (counted as a replay) if it was used before."""
    if form_tokens.spend(get_session(), token, on=current_instance().config.today()):
        return True
    meter().count(f"replayed:{kind}")
    return False


def challenge_of(fields: Mapping[str, Sequence[str]]) -> str:
    """The challenge token a form sent (to send the same form again after its wait)."""
    return _first(fields, CHALLENGE_FIELD)


def _first(fields: Mapping[str, Sequence[str]], name: str) -> str:
    values = fields.get(name) or ()
    return str(values[0]) if values else ""
