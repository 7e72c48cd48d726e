"""The demo configuration gives the Directive's deadlines to the Republic of Example (a
member state) and to no jurisdiction outside the Union, with nothing to set."""

from __future__ import annotations

from typing import Any

import pytest
from plugin_fixtures import fixture_entry_points  # noqa: F401 - autouse fixture: the fixture plugins are installed

from parrhesia.domain.routing import RoutingRequest
from parrhesia.ops.demo import DEMO_PLUGIN_SETTINGS, DEMO_PLUGINS, DEMO_SETTINGS


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    # The demo, plus a jurisdiction outside the Union ("testland", a fixture plugin).
    return {"plugins": [*DEMO_PLUGINS, "testland"], "plugin_settings": DEMO_PLUGIN_SETTINGS, "bodies": [],
            "instance": DEMO_SETTINGS, "readers": False}


def test_the_demo_gives_no_eu_clock_to_a_jurisdiction_outside_the_union(host: Any) -> None:
    assert DEMO_PLUGIN_SETTINGS.get("eu-directive", {}).get("jurisdictions") is None  # nothing set by hand
    inside = host.decide(RoutingRequest(jurisdiction="example", subject="public-procurement"))
    outside = host.decide(RoutingRequest(jurisdiction="testland", implicated="t-interior"))
    assert {c.id for c in inside.clocks} >= {"eu-acknowledge", "eu-feedback"}
    assert not [c for c in outside.clocks if c.id.startswith("eu-")]
    assert not [n for n in outside.notices if n.id.startswith("eu-")]
