"""Security policy applied by the application itself, on every response.

Written once here, never per view: response headers, CSRF protection, session cookie
settings, the refusal to spool uploads to plaintext temporary files, and the refusal of
the desk and the API on the sources' host names. The app sets
its own headers so that the development server, gunicorn and any proxy in front all
serve the same policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Request, Response, abort, current_app, g, has_request_context, request, session
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import BadRequest

__all__ = [
    "SECURITY_HEADERS", "DESK_CONTENT_SECURITY_POLICY", "ParrhesiaRequest", "StorableForm", "csrf", "csrf_exempt",
    "init_app", "renew_csrf_token", "storable_text",
]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
    ]
)

# The recipients' desk decrypts in the browser (progressive enhancement): it may run its
# own scripts from 'self', compile libsodium's WebAssembly, and fetch ciphertext from
# 'self'. Source pages never get any of this: they stay script-free.
DESK_CONTENT_SECURITY_POLICY = "; ".join(
    [CONTENT_SECURITY_POLICY, "script-src 'self' 'wasm-unsafe-eval'", "connect-src 'self'"]
)
_SCRIPTED_BLUEPRINTS = frozenset({"desk"})

PERMISSIONS_POLICY = ", ".join(
    f"{feature}=()"
    for feature in (
        "accelerometer",
        "camera",
        "clipboard-read",
        "display-capture",
        "geolocation",
        "gyroscope",
        "interest-cohort",
        "magnetometer",
        "microphone",
        "payment",
        "usb",
    )
)

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}

csrf = CSRFProtect()

_View = TypeVar("_View", bound=Callable[..., object])


def renew_csrf_token() -> None:
    """Give the session a new CSRF secret, after a single-use form was spent.

    A form's token is the session's secret signed with the current second, so two pages
    rendered in the same second would carry the same token and, once one was spent,
    the other would be refused as sent already. Flask-WTF keeps the secret in the
    session (and the signed token of this request in ``g``) under WTF_CSRF_FIELD_NAME;
    without them, the next page signs a new one. The session's other pages rendered
    before then are refused as expired (400, "please reload the page"), as a page
    already sent would be.
    """
    name = current_app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    session.pop(name, None)
    g.pop(name, None)


def csrf_exempt(view: _View) -> _View:
    """``@csrf.exempt`` with its type: flask_wtf has no type information, and its
    ``exempt`` records the view's module and name and returns the view itself."""
    exempted: _View = csrf.exempt(view)
    return exempted


class UploadNotAccepted(BadRequest):
    description = "This form does not accept files."


class ParrhesiaRequest(Request):
    """A request that never writes an uploaded file to disk.

    Werkzeug spools file parts larger than 500 KB to ordinary temporary files. Uploads
    are accepted only by the streaming parser in :mod:`parrhesia.upload`, which
    encrypts as it parses; any other route that receives a file part refuses it here
    rather than letting a plaintext byte reach a temporary file.
    """

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        raise UploadNotAccepted()


def _apply_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    if request.blueprint in _SCRIPTED_BLUEPRINTS:
        response.headers["Content-Security-Policy"] = DESK_CONTENT_SECURITY_POLICY
    response.headers.pop("Server", None)
    return response


def storable_text(value: str) -> bool:
    """Whether a text can be stored in every supported database: no NUL character
    (PostgreSQL refuses it in text columns) and no lone surrogate (it has no UTF-8 form).
    Every text that reaches the database from a request is checked with this, at the edge
    (:func:`_refuse_unstorable_url`, the desk's forms, the API's JSON bodies)."""
    return "\x00" not in value and not any("\ud800" <= character <= "\udfff" for character in value)


def _refuse_unstorable_url() -> None:
    """A path or query string with a NUL or a lone surrogate is refused before any view
    runs (a 400 with the app's own headers, never a database error)."""
    if not storable_text(request.path) or not all(
        storable_text(key) and storable_text(value) for key, value in request.args.items(multi=True)
    ):
        from flask import abort

        abort(400, "The address contains characters that are not allowed.")


_RECIPIENT_PATHS = ("/desk", "/api")


def _refuse_recipient_routes_off_desk_hosts() -> None:
    """With ``[hosts]`` set in parrhesia.toml, the desk and the API answer only on the
    desk's host names (the onion service with client authorisation, deploy/torrc): on a
    source host, or any host the desk list does not name, they are a 404 like any missing
    page, so the public onion gives nobody a way to the recipients' log-in. Without
    ``[hosts]`` nothing is restricted. Source pages answer on every host: the desk's
    onion is reachable only by recipients, and they may look at what sources see."""
    hosts = current_app.extensions["parrhesia.instance"].config.hosts
    path = request.path
    if not hosts or not any(path == prefix or path.startswith(prefix + "/") for prefix in _RECIPIENT_PATHS):
        return
    host = request.host.lower()  # werkzeug leaves out the scheme's default port (":80")
    desk = hosts.get("desk", ())
    if host in hosts.get("source", ()) or (desk and host not in desk):
        abort(404)


class StorableForm(FlaskForm):
    """The base of every HTML form of the source interface and the desk.

    Its data comes only from an HTML form post (a JSON body is not a form: it is seen as
    empty, so the form fails validation with a clear message instead of reaching a field
    that expects text with a number), and a text that could not be stored
    (:func:`storable_text`) fails validation like any other bad input.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if not args and "formdata" not in kwargs and has_request_context() and request.is_json:
            kwargs["formdata"] = request.form
        super().__init__(*args, **kwargs)

    def validate(self, extra_validators: Any = None) -> bool:
        valid = bool(super().validate(extra_validators=extra_validators))
        for field in self:
            if isinstance(field.data, str) and not storable_text(field.data):
                field.errors = [*field.errors, _l("This field contains characters that are not allowed.")]
                valid = False
        return valid


def init_app(app: Flask, *, cookie_secure: bool, session_minutes: int) -> None:
    """Install headers, CSRF and cookie policy on an application."""
    app.request_class = ParrhesiaRequest
    settings: dict[str, Any] = {
        "SESSION_COOKIE_NAME": "parrhesia",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Strict",
        "SESSION_COOKIE_SECURE": cookie_secure,
        "PERMANENT_SESSION_LIFETIME": session_minutes * 60,
        "SESSION_REFRESH_EACH_REQUEST": False,
        "WTF_CSRF_TIME_LIMIT": session_minutes * 60,
        "WTF_CSRF_SSL_STRICT": cookie_secure,
    }
    # Policy, not defaults: Flask ships its own values for these keys (a 31-day
    # session, SameSite unset), so they are overwritten, never merely defaulted.
    app.config.update(settings)
    csrf.init_app(app)
    app.before_request(_refuse_recipient_routes_off_desk_hosts)
    app.before_request(_refuse_unstorable_url)
    app.after_request(_apply_headers)
