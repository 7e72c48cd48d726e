"""Built-in webhook notifications (``[notifications.webhook]`` in parrhesia.toml).

Settings: ``url`` (http or https) and ``secret_env`` — the name of an environment
variable whose value signs each request (``X-Parrhesia-Signature: sha256=<hmac>``).
Without a ``url`` this plugin does nothing. The JSON body holds the recipient id and
counts by kind only.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import urllib.parse
import urllib.request
from typing import Any

from parrhesia.config import InstanceConfig
from parrhesia.contract.notification_batch import Notification
from parrhesia.plugin import hookimpl


def settings(config: InstanceConfig) -> dict[str, Any]:
    table = config.raw.get("notifications", {}).get("webhook", {})
    return table if isinstance(table, dict) else {}


def payload(notification: Notification) -> bytes:
    return json.dumps(
        {"instance": notification.instance_name, "recipient": notification.recipient_id,
         "counts": dict(sorted(notification.counts.items()))},
        sort_keys=True,
    ).encode("utf-8")


@hookimpl(trylast=True)
def parrhesia_notify(notification: Notification, config: InstanceConfig) -> bool | None:
    options = settings(config)
    url = options.get("url")
    if not url:
        return None
    if urllib.parse.urlsplit(str(url)).scheme not in ("http", "https"):
        raise ValueError("notifications.webhook.url must be http or https")
    body = payload(notification)
    request = urllib.request.Request(str(url), data=body, method="POST")  # noqa: S310
    request.add_header("Content-Type", "application/json")
    secret = os.environ.get(str(options.get("secret_env", "")), "")
    if secret:
        signature = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
        request.add_header("X-Parrhesia-Signature", f"sha256={signature}")
    # B310 is a false positive: the scheme was checked to be http(s) just above.
    with urllib.request.urlopen(request, timeout=30) as response:  # nosec B310
        status: int = response.status
        return 200 <= status < 300
