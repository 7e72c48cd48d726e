"""Security policy applied by the application itself, on every response.

Written once here, never per view: response headers, CSRF protection, session cookie
settings, and the refusal to spool uploads to plaintext temporary files. The app sets
its own headers so that the development server, gunicorn and any proxy in front all
serve the same policy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, Any, TypeVar

from flask import Flask, Request, Response, request
from flask_wtf.csrf import CSRFProtect
from werkzeug.exceptions import BadRequest

__all__ = ["SECURITY_HEADERS", "DESK_CONTENT_SECURITY_POLICY", "ParrhesiaRequest", "csrf", "csrf_exempt", "init_app"]

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
    app.after_request(_apply_headers)
