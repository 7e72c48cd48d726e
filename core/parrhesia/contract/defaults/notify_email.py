"""Built-in e-mail notifications (``[notifications.email]`` in parrhesia.toml).

Settings: ``host``, ``port`` (587), ``sender``, ``starttls`` (true), ``username`` and
``password_env`` — the name of an environment variable holding the password, never
the password itself. Without a ``host`` this plugin does nothing. The message says how
many items need attention, by kind, and where to log in: nothing about any report.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from email.message import EmailMessage
from typing import Any

from parrhesia.config import InstanceConfig
from parrhesia.contract.notification_batch import Notification
from parrhesia.plugin import hookimpl

DESCRIPTIONS = {
    "new-report": "new report(s) routed to your body",
    "new-message": "new message(s) from sources",
    "clock-due": "deadline(s) about to expire",
    "urgent": "URGENT report(s): someone may be in immediate danger",
}


def settings(config: InstanceConfig) -> dict[str, Any]:
    table = config.raw.get("notifications", {}).get("email", {})
    return table if isinstance(table, dict) else {}


def compose(notification: Notification, sender: str) -> EmailMessage:
    """The message: counts and a log-in address only."""
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(notification.email)
    message["Subject"] = f"[{notification.instance_name}] Something needs your attention"
    lines = [f"Hello {notification.name},", "", f"On {notification.instance_name}:"]
    for kind, count in sorted(notification.counts.items()):
        lines.append(f"  - {count} {DESCRIPTIONS.get(kind, kind)}")
    lines += ["", "Log in to your desk to see them."]
    if notification.desk_url:
        lines.append(notification.desk_url)
    message.set_content("\n".join(lines) + "\n")
    return message


@hookimpl(trylast=True)
def parrhesia_notify(notification: Notification, config: InstanceConfig) -> bool | None:
    options = settings(config)
    if not options.get("host") or not notification.email:
        return None
    message = compose(notification, str(options.get("sender", f"parrhesia@{options['host']}")))
    with smtplib.SMTP(str(options["host"]), int(options.get("port", 587)), timeout=30) as smtp:
        if options.get("starttls", True):
            smtp.starttls(context=ssl.create_default_context())
        if options.get("username"):
            smtp.login(str(options["username"]), os.environ.get(str(options.get("password_env", "")), ""))
        smtp.send_message(message)
    return True
