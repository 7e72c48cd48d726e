"""Gunicorn configuration for running Parrhesia with gunicorn directly.

    PARRHESIA_INSTANCE=/var/lib/parrhesia \
        gunicorn -c deploy/gunicorn.conf.py 'parrhesia.web.app:create_app()'

``parrhesia serve`` does the same without this file. Both take their settings from
:func:`parrhesia.web.server.gunicorn_options`, so the serving policy lives in one place:
gevent workers (a slow upload over Tor costs a connection, not a thread), and logs
that never hold a client address, user agent, referrer or time of activity.

Options given on gunicorn's command line override these (e.g. ``--workers 4``); an
access log is off unless ``--access-logfile -`` is given, and then uses Parrhesia's
address-free format. Do not pass ``--access-logformat``.
"""

import os

from parrhesia.web.app import INSTANCE_ENV
from parrhesia.web.server import gunicorn_options

# Gunicorn reads every module-level name that is one of its settings; None means
# "gunicorn's default", as in parrhesia.web.server.
for _name, _value in gunicorn_options("127.0.0.1:8080").items():
    if _value is not None:
        globals()[_name] = _value


def on_starting(server):  # noqa: ARG001 - gunicorn's hook signature
    """Stop with one clear error, before forking workers, if the instance is unusable;
    then make the flood meter that every worker shares (so ceilings are the instance's)."""
    from parrhesia.config import ConfigError
    from parrhesia.domain import flood
    from parrhesia.instance import open_instance
    from parrhesia.storage.migrate import SchemaError

    path = os.environ.get(INSTANCE_ENV)
    if not path:
        raise SystemExit(f"Set {INSTANCE_ENV} to the instance folder (see deploy/README.md).")
    try:
        open_instance(path).dispose()
    except (ConfigError, SchemaError) as exc:
        raise SystemExit(str(exc)) from None
    flood.share_between_processes()
