"""Running the clock engine and the notification batch on a schedule.

Production runs ``parrhesia tick`` and ``parrhesia notify`` from systemd timers
(deploy/). ``parrhesia serve --tick-minutes N`` can instead run both every N minutes
on a background thread of the gunicorn master (workers never run it), for instances
without a timer. Each round opens the instance afresh and logs counts only.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

from sqlalchemy.orm import Session

from parrhesia.domain.clock_engine import tick
from parrhesia.domain.host import load_host
from parrhesia.domain.notifications import flush, queue_due_clocks
from parrhesia.domain.reports import record_plugin_failures
from parrhesia.instance import open_instance
from parrhesia.ops.doctor import record_tick

__all__ = ["run_round", "start"]

log = logging.getLogger(__name__)


def run_round(instance_dir: Path) -> None:
    """One round: evaluate clocks (and retention), then send the notification batch."""
    instance = open_instance(instance_dir)
    try:
        host = load_host(instance.config)
        day = instance.config.today()
        with Session(instance.engine) as db:
            result = tick(host, db, instance=instance)
            queue_due_clocks(db, on=day)
            sent = flush(host, db)
            record_plugin_failures(db, [*result.retention.failures, *sent.failures], None, on=day)
            db.commit()
        record_tick(instance.config.path)  # for `parrhesia doctor`: when a tick last worked
        log.info(
            "scheduled round: %d clock(s) missed, %d escalation(s), %d destroyed, %d notification(s) sent",
            len(result.missed), len(result.escalated), len(result.retention.destroyed), sent.sent,
        )
    finally:
        instance.dispose()


def start(instance_dir: Path, minutes: int) -> threading.Event:
    """Run rounds every ``minutes`` on a daemon thread; set the returned event to stop."""
    stop = threading.Event()

    def loop() -> None:
        while not stop.wait(minutes * 60):
            try:
                run_round(instance_dir)
            except Exception as exc:  # a failed round must not stop the next one
                log.error("scheduled round failed: %s", type(exc).__name__)

    threading.Thread(target=loop, name="parrhesia-scheduler", daemon=True).start()
    return stop
