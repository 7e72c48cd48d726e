"""EU Directive 2019/1937 enabled on the test instance of ``parrhesia.testing``.

The instance's own bodies (jurisdiction "instance") stand for a Member State, which the
instance declares in ``[plugins.eu-directive] jurisdictions``; one more body stands for
a country outside the Union.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from parrhesia.config import load_config
from parrhesia.domain.host import PluginHost, load_host
from parrhesia.testing import TEST_BODIES

LoadHost = Callable[..., PluginHost]


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    elsewhere = {"id": "elsewhere-ombudsman", "name": "Ombudsman of Elsewhere", "kind": "ombudsman",
                 "jurisdiction": "elsewhere"}
    return {
        "plugins": ["eu-directive"],
        # The instance's own jurisdiction is a member state: the instance says so.
        "plugin_settings": {"eu-directive": {"jurisdictions": ["instance"]}},
        "bodies": [*TEST_BODIES, elsewhere],
        "instance": {"route": ["integrity-office"], "last_resort": ["ombudsman"]},
    }


@pytest.fixture
def load(instance_dir: Path) -> LoadHost:
    """Load the instance's plugin host with ``[plugins.eu-directive]`` set to ``settings``."""

    def load_with(**settings: Any) -> PluginHost:
        config_file = instance_dir / "parrhesia.toml"
        document = tomllib.loads(config_file.read_text(encoding="utf-8"))
        document["plugins"]["eu-directive"] = settings
        config_file.write_text(tomli_w.dumps(document), encoding="utf-8")
        return load_host(load_config(instance_dir))

    return load_with
