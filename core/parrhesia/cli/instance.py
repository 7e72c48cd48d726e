"""``parrhesia init``, ``serve`` and ``demo``."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from parrhesia.cli.common import instance_option
from parrhesia.config import ConfigError
from parrhesia.instance import init_instance
from parrhesia.storage.migrate import SchemaError
from parrhesia.web import DEFAULT_CONNECTIONS, DEFAULT_THREADS, DEFAULT_WORKERS, WORKER_CLASSES

__all__ = ["init", "serve", "demo"]


@click.command()
@instance_option
@click.option("--name", default="Parrhesia", show_default=True, help="The instance's public name.")
def init(instance_dir: Path, name: str) -> None:
    """Create an instance folder, or bring an existing one's database up to date."""
    try:
        instance = init_instance(instance_dir, name=name)
    except (ConfigError, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Instance ready in {instance.config.path}")
    click.echo(f"Configuration: {instance.config.path / 'parrhesia.toml'}")
    instance.dispose()


@click.command()
@instance_option
@click.option("--bind", default="127.0.0.1:8080", show_default=True, help="Address for gunicorn to listen on.")
@click.option("--workers", default=DEFAULT_WORKERS, show_default=True, type=click.IntRange(1, 64),
              help="Serving processes (one gevent worker takes hundreds of slow uploads; deploy/README.md).")
@click.option("--worker-class", type=click.Choice(WORKER_CLASSES), default=WORKER_CLASSES[0], show_default=True,
              help="gevent: a slow upload costs a connection, not a thread; gthread: a pool of threads.")
@click.option("--connections", default=DEFAULT_CONNECTIONS, show_default=True, type=click.IntRange(1, 100_000),
              help="Connections per gevent worker.")
@click.option("--threads", default=DEFAULT_THREADS, show_default=True, type=click.IntRange(1, 64), help="Threads per gthread worker.")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="Log request lines (never addresses or user agents).")
@click.option("--tick-minutes", type=click.IntRange(1, 24 * 60), default=None,
              help="Also run the clock engine and the notification batch every N minutes "
                   "(instead of the systemd timers in deploy/).")
def serve(
    instance_dir: Path, bind: str, workers: int, worker_class: str, connections: int, threads: int, access_log: bool,
    tick_minutes: int | None,
) -> None:
    """Serve an instance in production with gunicorn."""
    from parrhesia.web.server import serve as run

    _check_app(instance_dir.resolve())
    if tick_minutes:
        from parrhesia.ops import scheduler

        scheduler.start(instance_dir.resolve(), tick_minutes)
    run(str(instance_dir.resolve()), bind, workers=workers, worker_class=worker_class, connections=connections,
        threads=threads, access_log=access_log)


@click.command()
@instance_option
@click.option("--port", default=8080, show_default=True, type=click.IntRange(1, 65535))
def demo(instance_dir: Path, port: int) -> None:
    """Create (if missing) and serve a demo instance on 127.0.0.1."""
    from parrhesia.ops.demo import DEMO_RECIPIENT_BODY, ensure_demo_instance
    from parrhesia.web.server import serve as run

    instance, demo_files = ensure_demo_instance(instance_dir)
    root = instance.config.path
    instance.dispose()
    _check_app(root)
    url = f"http://127.0.0.1:{port}"
    exe = shlex.quote(sys.argv[0]) if sys.argv and sys.argv[0].endswith("parrhesia") else "parrhesia"
    files = demo_files[DEMO_RECIPIENT_BODY]
    pulled = shlex.quote(str(files.key.parent / "pulled"))
    key, pw, token, desk_pw = (
        shlex.quote(str(p)) for p in (files.key, files.passphrase, files.token, files.desk_password)
    )
    others = "\n".join(f"    {f.login:<22} {f.key.parent}" for b, f in sorted(demo_files.items()) if b != DEMO_RECIPIENT_BODY)
    click.echo(f"""
Parrhesia demo instance: {root}

  Source interface:  {url}/
  Recipients' desk:  {url}/desk/  (log-in "demo", password in {desk_pw};
                     the first log-in enrols an authenticator app with a QR code)
  Recipient API:     {url}/api/v1/reports

1. Open {url}/ (JavaScript off works), submit a report, and keep the codename.
   Try "Ministry of the Interior" as the implicated institution: it, the police it
   oversees and the head of government are excluded; the Anti-Corruption Agency reads it.
2. Pull and decrypt it as the demo recipient of the Anti-Corruption Agency:
     {exe} desk pull --server {url} --token "$(cat {token})" \\
         --key {key} --passphrase-file {pw} --out {pulled}
3. Reply, then log in with the codename at {url}/login to read it:
     {exe} desk reply --server {url} --token "$(cat {token})" \\
         --report REPORT_ID --message "Thank you, we are looking into it."

Every other body a report can reach has a demo recipient too (desk log-in, and
recipient.key, passphrase, token and desk-password in its folder), so transfers,
recusals and escalations land where someone can read them:
{others}

Demo only: the demo keys are publicly known. Press Ctrl+C to stop.
""")
    run(str(root), f"127.0.0.1:{port}", workers=1, threads=8, access_log=False)


def _check_app(instance_dir: Path) -> None:
    """Build the app once before serving: a theme, plugin or schema problem is one clear line."""
    from parrhesia.web.server import check_app

    try:
        check_app(str(instance_dir))
    except (ConfigError, SchemaError) as exc:
        raise click.ClickException(str(exc)) from None
