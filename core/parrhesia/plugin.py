"""Everything a jurisdiction plugin needs, in one import::

    from parrhesia.plugin import hookimpl, Body, Relation, DirectoryContribution, ...

Importing it loads the contract only (the hook specifications and the values hooks
receive and return), never the database or the web app: tests/test_plugin_contract.py
keeps it so. The one web library it loads is flask-babel, whose lazy strings the
directory's conflict reasons are made of.
"""

from __future__ import annotations

import pluggy

from parrhesia.config import ConfigError, InstanceConfig
from parrhesia.contract.clocks import Clock, gettext_noop
from parrhesia.contract.directory import Body, BodyKind, Directory, DirectoryContribution, Relation, RelationKind
from parrhesia.contract.events import Event, EventName
from parrhesia.contract.hookspecs import PROJECT_NAME
from parrhesia.contract.intake import Choice, FieldKind, IntakeField, SourceNotice
from parrhesia.contract.notification_batch import Notification
from parrhesia.contract.protection import ProtectionMeasure
from parrhesia.contract.retention_rule import RetentionRule
from parrhesia.contract.routing_request import (
    LAST_RESORT_RANK,
    URGENCY_IMMINENT,
    URGENCY_NORMAL,
    DutyBody,
    EscalationStep,
    Exclusion,
    RoutingRequest,
)

__all__ = [
    "hookimpl",
    "gettext_noop",
    "Body",
    "BodyKind",
    "Choice",
    "Clock",
    "ConfigError",
    "Directory",
    "DirectoryContribution",
    "DutyBody",
    "EscalationStep",
    "Event",
    "EventName",
    "Exclusion",
    "FieldKind",
    "InstanceConfig",
    "IntakeField",
    "LAST_RESORT_RANK",
    "Notification",
    "ProtectionMeasure",
    "Relation",
    "RelationKind",
    "RetentionRule",
    "RoutingRequest",
    "SourceNotice",
    "URGENCY_IMMINENT",
    "URGENCY_NORMAL",
]

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
