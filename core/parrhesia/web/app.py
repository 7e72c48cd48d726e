"""The application factory."""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

from flask import Flask, Response, render_template, request, send_from_directory, session
from flask_babel import Babel, get_locale
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join

from parrhesia.config import CONFIG_FILE, DEFAULT_THEME, ConfigError, InstanceConfig
from parrhesia.contract.clocks import translated
from parrhesia.domain.host import load_host
from parrhesia.instance import open_instance
from parrhesia.storage import db
from parrhesia.upload.bounds import UploadBounds
from parrhesia.upload.receiver import UPLOAD_BOUNDS
from parrhesia.web import security
from parrhesia.web.logs import configure_logging

log = logging.getLogger(__name__)

__all__ = ["create_app", "INSTANCE_ENV"]

INSTANCE_ENV = "PARRHESIA_INSTANCE"
_PACKAGE = Path(__file__).resolve().parents[1]  # the parrhesia package: themes/ and translations/


class _ThemedFlask(Flask):
    """A Flask app whose templates and static files come from a list of theme folders.

    The first folder that has a template or a static file wins; the last is the
    default theme, which is complete, so a theme overrides only what it changes.
    """

    def __init__(self, import_name: str, themes: list[Path], **kwargs: Any) -> None:
        self.themes = themes
        super().__init__(import_name, template_folder=None, static_folder=str(themes[-1] / "static"), **kwargs)

    @cached_property
    def jinja_loader(self) -> BaseLoader | None:
        return ChoiceLoader([FileSystemLoader(str(theme / "templates")) for theme in self.themes])

    def send_static_file(self, filename: str) -> Response:
        folders = [theme / "static" for theme in self.themes]
        folder = next((f for f in folders[:-1] if _has_file(f, filename)), folders[-1])
        return send_from_directory(folder, filename, max_age=self.get_send_file_max_age(filename))


def _has_file(folder: Path, filename: str) -> bool:
    path = safe_join(str(folder), filename)
    return path is not None and os.path.isfile(path)


def bundled_themes() -> Path:
    """The folder holding the themes that ship with Parrhesia (``themes/`` of the repository).

    A wheel carries them as package data, inside the package (setup.py maps them
    there); an editable install reads them in the source tree, next to ``core/``.
    """
    packaged = _PACKAGE / "themes"
    return packaged if packaged.is_dir() else _PACKAGE.parents[1] / "themes"


def theme_folders(config: InstanceConfig) -> list[Path]:
    """The instance's theme folder, then the default theme's; ConfigError if one is missing.

    The default theme comes with Parrhesia (`bundled_themes`); a theme of the
    instance's own lives under ``instance.themes_dir``.
    """
    bundled = bundled_themes()
    default = bundled / DEFAULT_THEME
    if not (default / "templates").is_dir():
        raise ConfigError(
            f"The default theme is missing ({default / 'templates'} does not exist): this installation "
            "of Parrhesia is incomplete. Install it from a wheel built with `make dist`, or from a "
            "source checkout with `pip install -e` (deploy/README.md)."
        )
    chosen = (config.themes_dir or bundled) / config.theme
    if chosen.resolve() == default.resolve():
        return [default]
    if config.theme == DEFAULT_THEME and not chosen.exists():
        return [default]  # themes_dir without a theme of that name: nothing overrides the default
    if not chosen.is_dir():
        where = "instance.themes_dir" if config.themes_dir else f"{bundled} (or set instance.themes_dir)"
        raise ConfigError(
            f"{config.path / CONFIG_FILE}: the theme {config.theme!r} does not exist: there is no folder "
            f"{chosen}. Put it in {where}, or remove instance.theme to use the default theme."
        )
    return [chosen, default]


def create_app(
    instance_path: str | os.PathLike[str] | None = None,
    test_config: Mapping[str, Any] | None = None,
) -> Flask:
    """Build an app for one instance folder (argument, or ``$PARRHESIA_INSTANCE``)."""
    configure_logging()
    path = instance_path or os.environ.get(INSTANCE_ENV)
    if not path:
        raise RuntimeError(f"No instance folder: pass one or set {INSTANCE_ENV}.")
    instance = open_instance(path)
    config = instance.config
    try:
        themes = theme_folders(config)
        host = load_host(config)
    except Exception:
        instance.dispose()
        raise

    app = _ThemedFlask("parrhesia", themes, instance_path=str(config.path))
    app.config.update(
        SECRET_KEY=instance.secret_key,
        MAX_CONTENT_LENGTH=None,  # the upload parser enforces the per-submission limit
        MAX_FORM_MEMORY_SIZE=64 * 1024,
        MAX_SUBMISSION_BYTES=config.max_submission_bytes,
        # Plugins' catalogues first, the core's last: for a text both translate, the
        # core's translation wins (flask-babel merges them in this order).
        BABEL_TRANSLATION_DIRECTORIES=";".join(
            str(folder) for folder in [*host.translation_directories(), _PACKAGE / "translations"]
        ),
        BABEL_DEFAULT_LOCALE=config.languages[0],
        LANGUAGES=config.languages,
    )
    if test_config:
        app.config.update(test_config)
    _check_languages(config.languages)
    for plugin, language in host.untranslated_plugins(config.languages):
        # Not an error (English is readable to many), but a source reading another
        # language would meet this plugin's questions and notices untranslated.
        log.warning("plugin %s has no %r translations: its text shows in English on %r pages", plugin, language, language)
    app.extensions["parrhesia.instance"] = instance
    app.extensions[UPLOAD_BOUNDS] = UploadBounds(instance.config.max_concurrent_uploads,
                                                 instance.config.upload_idle_seconds, instance.config.upload_min_rate,
                                                 instance.config.upload_disk_reserve)
    app.extensions["parrhesia.domain.host"] = host
    from parrhesia.web.source import work

    work.install(app, instance)

    security.init_app(
        app,
        cookie_secure=config.cookie_secure,
        session_minutes=int(config.session_lifetime.total_seconds() // 60),
    )
    db.init_app(app, instance.engine)
    Babel(app, locale_selector=_select_locale)
    instance.blobs.remove_stale_temporaries()

    from parrhesia.web.api import bp as api_bp
    from parrhesia.web.desk import bp as desk_bp
    from parrhesia.web.source import bp as source_bp
    from parrhesia.web.stats import bp as stats_bp

    app.register_blueprint(source_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(desk_bp)
    app.register_blueprint(stats_bp)
    security.csrf.exempt(api_bp)

    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)

    # Text stored in English and marked with N_ (a clock's label), shown translated:
    # {{ clock.label|translate }}. A plain string comes back, so it is escaped as usual.
    app.jinja_env.filters["translate"] = lambda text: translated(str(text))

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"instance_name": config.name, "languages": config.languages, "get_locale": get_locale}

    return app


def _select_locale() -> str | None:
    from flask import current_app, has_request_context

    if not has_request_context():
        return None  # the CLI, scheduled jobs: the instance's default language
    languages = current_app.config["LANGUAGES"]
    chosen = request.args.get("lang")
    if chosen in languages:
        session["lang"] = chosen
        return chosen
    if session.get("lang") in languages:
        return str(session["lang"])
    return request.accept_languages.best_match(languages)


def _http_error(error: HTTPException) -> Any:
    # The exception's own headers (Retry-After of a refusal, Allow of a 405) go along.
    headers = [(name, value) for name, value in error.get_headers() if name.lower() != "content-type"]
    if request.path.startswith("/api/"):
        return {"error": error.name, "message": error.description}, error.code, headers
    return render_template("error.html", error=error), error.code, headers


def _unexpected_error(error: Exception) -> Any:
    # Logged by type and code location only: an exception message could carry content.
    from flask import current_app

    frames = traceback.extract_tb(error.__traceback__)
    ours = [f for f in frames if f"{os.sep}parrhesia{os.sep}" in f.filename] or frames
    where = " <- ".join(f"{Path(f.filename).name}:{f.lineno}" for f in reversed(ours[-6:]))
    current_app.logger.error("unexpected %s at %s", type(error).__name__, where)
    if request.path.startswith("/api/"):
        return {"error": "Internal Server Error", "message": "The server could not complete the request."}, 500
    return render_template("error.html", error=None), 500


def _check_languages(languages: tuple[str, ...]) -> None:
    """Every configured language but English needs a catalogue, or it would silently be English."""
    missing = [
        code for code in languages
        if code != "en" and not (_PACKAGE / "translations" / code / "LC_MESSAGES" / "messages.mo").is_file()
    ]
    if missing:
        raise ConfigError(f"instance.languages names languages without a translation: {missing}")
