"""Everything a jurisdiction plugin needs, in one import::

    from parrhesia.plugin import hookimpl, Body, Relation, DirectoryContribution, ...
"""

from __future__ import annotations

import pluggy

from parrhesia.clocks import Clock, gettext_noop
from parrhesia.directory import Body, BodyKind, Directory, DirectoryContribution, Relation, RelationKind
from parrhesia.events import Event, EventName
from parrhesia.hookspecs import PROJECT_NAME
from parrhesia.intake import Choice, FieldKind, IntakeField, SourceNotice
from parrhesia.protection import ProtectionMeasure
from parrhesia.retention import RetentionRule
from parrhesia.routing import (
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
    "Directory",
    "DirectoryContribution",
    "DutyBody",
    "EscalationStep",
    "Event",
    "EventName",
    "Exclusion",
    "FieldKind",
    "IntakeField",
    "ProtectionMeasure",
    "Relation",
    "RetentionRule",
    "RelationKind",
    "RoutingRequest",
    "SourceNotice",
    "URGENCY_IMMINENT",
    "URGENCY_NORMAL",
]

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
