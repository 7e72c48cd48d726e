"""Escalation chains over a small directory declared in the test instance's config.

The instance of ``parrhesia.testing`` gets the bodies below as ``[[bodies]]`` and
``[[relations]]`` (so these tests need no jurisdiction plugin) and enables the
``anticorruption`` plugin by name, found through its installed entry point. The
``host`` fixture of ``parrhesia.testing`` then routes on it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest
import tomli_w

BODIES = [
    {"id": "t-government", "name": "Government", "kind": "head of government", "jurisdiction": "testland"},
    {"id": "t-ministry", "name": "Ministry", "kind": "ministry", "jurisdiction": "testland", "parent": "t-government"},
    {"id": "t-aca", "name": "Anti-Corruption Agency", "kind": "anti-corruption agency", "jurisdiction": "testland"},
    {"id": "t-aca-north", "name": "ACA, northern office", "kind": "anti-corruption agency", "jurisdiction": "testland",
     "parent": "t-aca"},
    {"id": "t-ombudsman", "name": "Ombudsman", "kind": "ombudsman", "jurisdiction": "testland"},
    {"id": "t-audit", "name": "Court of Audit", "kind": "audit institution", "jurisdiction": "testland"},
    {"id": "t-prosecutor", "name": "Prosecutor", "kind": "prosecutor", "jurisdiction": "testland"},
    {"id": "t-parliament", "name": "Parliament", "kind": "parliament", "jurisdiction": "testland"},
    {"id": "t-committee", "name": "Integrity Committee", "kind": "parliament", "jurisdiction": "testland",
     "parent": "t-parliament"},
    {"id": "t-ngo", "name": "Watchdog", "kind": "ngo", "jurisdiction": "testland"},
    {"id": "t-court", "name": "Court", "kind": "court", "jurisdiction": "testland"},
    {"id": "o-aca", "name": "Other Agency", "kind": "anti-corruption agency", "jurisdiction": "otherland"},
    {"id": "o-ngo", "name": "Other Watchdog", "kind": "ngo", "jurisdiction": "otherland"},
    {"id": "i-union-office", "name": "Union Anti-Fraud Office", "kind": "international", "jurisdiction": "union"},
    {"id": "t-un-office", "name": "UN Office in Testland", "kind": "international", "jurisdiction": "testland"},
]
RELATIONS = [
    {"source": "t-government", "kind": "appoints", "target": "t-prosecutor"},
    {"source": "t-parliament", "kind": "appoints", "target": "t-ombudsman"},
    {"source": "t-parliament", "kind": "appoints", "target": "t-audit"},
    {"source": "t-parliament", "kind": "appoints", "target": "t-aca"},
    {"source": "t-ministry", "kind": "funds", "target": "t-ngo"},
]


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {
        "plugins": ["anticorruption"],
        "bodies": BODIES,
        "instance": {"route": ["t-aca"], "last_resort": ["t-ombudsman", "t-ngo"]},
    }


@pytest.fixture
def instance_dir(instance_dir: Path) -> Path:
    """Relations are not among ``instance_settings``' keys: add them to the file."""
    config_file = instance_dir / "parrhesia.toml"
    document = tomllib.loads(config_file.read_text(encoding="utf-8"))
    document["relations"] = RELATIONS
    config_file.write_text(tomli_w.dumps(document), encoding="utf-8")
    return instance_dir
