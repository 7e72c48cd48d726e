"""The Republic of Example, enabled on the test instance of ``parrhesia.testing``.

Overriding ``instance_settings`` configures every fixture built on the test instance
(``instance_dir``, ``app``, ``client``, ``host``...): the plugin is found through its
installed entry point and enabled by name, exactly as on a real instance.
"""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # No standing route: only the plugin's proposals, then the recipient of last resort,
    # which the instance (not the plugin) chooses. The instance's own test bodies stay,
    # in a jurisdiction of their own.
    return {"plugins": ["demo"], "instance": {"route": [], "last_resort": ["example-ombudsman"]}}
