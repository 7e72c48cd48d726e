"""Production serving with gunicorn, built for many slow sources at once.

Sources upload over Tor at tens of KB/s, many at a time. A ``gthread`` worker holds a
thread for every body still arriving, so eight slow uploads stopped the site for
everyone (issue 10). The default ``gevent`` workers hold a greenlet instead: a body
still arriving costs a connection and a block of at most
:data:`parrhesia.upload.body.READ_SIZE` (:data:`~parrhesia.upload.body.FIRST_READ` for a
slow one), while pages keep answering. The bounds on such bodies (idle time, minimum
rate, uploads in flight per process) are in :mod:`parrhesia.upload.body` and
:mod:`parrhesia.upload.bounds`; CPU-bound work a request must wait for (Argon2id) runs
on a real thread (:func:`parrhesia.offload.blocking`).

The access log format leaves out the remote address, user agent, referrer and time
(see :mod:`parrhesia.web.logs`). Responses carry a neutral ``Server`` header
(:data:`SERVER_HEADER`), naming no software. The workers share one flood meter
(:func:`parrhesia.domain.flood.share_between_processes`), so the ceilings are the instance's.
"""

from __future__ import annotations

import os
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from gunicorn.http import wsgi as gunicorn_wsgi

from parrhesia.domain import flood
from parrhesia.web import DEFAULT_CONNECTIONS, DEFAULT_THREADS, DEFAULT_WORKERS, WORKER_CLASSES
from parrhesia.web.app import INSTANCE_ENV, create_app
from parrhesia.web.logs import ACCESS_LOG_FORMAT, RedactingFilter

__all__ = ["SERVER_HEADER", "gunicorn_options", "serve"]

# The Server header of every response: nothing that tells a scanner which server (or
# which version of it) to try its exploits on.
SERVER_HEADER = "web"


def gunicorn_options(
    bind: str, *, workers: int = DEFAULT_WORKERS, worker_class: str = WORKER_CLASSES[0],
    connections: int = DEFAULT_CONNECTIONS, threads: int = DEFAULT_THREADS,
    access_log: bool = False,
) -> dict[str, Any]:
    """Gunicorn's settings: ``connections`` per gevent worker, ``threads`` per gthread worker."""
    if worker_class not in WORKER_CLASSES:
        raise ValueError(f"worker_class must be one of {WORKER_CLASSES}")
    return {
        "bind": bind,
        "workers": workers,
        "worker_class": worker_class,
        "worker_connections": connections,
        "threads": threads,
        "timeout": 120,
        "graceful_timeout": 30,
        "keepalive": 5,
        "accesslog": "-" if access_log else None,
        "access_log_format": ACCESS_LOG_FORMAT,
        "errorlog": "-",
        "loglevel": "info",
        # Gunicorn must not trust forwarding headers to learn an address it never logs.
        "forwarded_allow_ips": "",
        "proxy_allow_ips": "",
        "control_socket_disable": True,
        "logger_class": _RedactingLogger,
    }


class _RedactingLogger(Logger):
    """Gunicorn's own logs under the logging policy: no addresses, no times of activity.

    Gunicorn's loggers do not propagate to the root logger, so they need the redacting
    filter themselves (its start-up lines name the bound address, and its error lines
    can name a client's); the error log format leaves out the time.
    """

    error_fmt = "[%(process)d] [%(levelname)s] %(message)s"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(f, RedactingFilter) for f in log.filters):
                log.addFilter(RedactingFilter())


def _neutral_server_header() -> None:
    """Have gunicorn send ``Server: web`` instead of ``Server: gunicorn``.

    Gunicorn has no setting for it, and the header it writes comes before the
    application's, so a header set by the app (or a WSGI wrapper) would only add a
    second one (the app's own is dropped anyway, by :mod:`parrhesia.web.security`). Its
    HTTP/1 and HTTP/2 responses take the value from ``gunicorn.http.wsgi.SERVER`` when
    they are made, so it is set there, in the arbiter, before any worker is forked.
    tests/test_server_header.py checks what a served instance really sends.
    """
    if not isinstance(getattr(gunicorn_wsgi, "SERVER", None), str):
        raise RuntimeError("This gunicorn no longer names its Server header in gunicorn.http.wsgi.SERVER; "
                           "update parrhesia.web.server._neutral_server_header.")
    gunicorn_wsgi.SERVER = SERVER_HEADER


class _Server(BaseApplication):
    def __init__(self, instance: str, options: dict[str, Any]) -> None:
        self.instance = instance
        self.options = options
        _neutral_server_header()
        flood.share_between_processes()  # one flood meter for every worker forked from here
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        return create_app(self.instance)


def check_app(instance: str) -> None:
    """Build the instance's app once and let it go; ConfigError or SchemaError if it cannot be built.

    Call it before :func:`serve`: a theme, a plugin or the database that is not as it
    should be then stops start-up with one clear error, before gunicorn forks workers
    (which build their own apps) and before anything else is started.
    """
    create_app(instance).extensions["parrhesia.instance"].dispose()


def serve(instance: str, bind: str, **kwargs: Any) -> None:
    """Serve an instance with gunicorn until interrupted (after :func:`check_app`)."""
    os.environ[INSTANCE_ENV] = instance
    _Server(instance, gunicorn_options(bind, **kwargs)).run()
