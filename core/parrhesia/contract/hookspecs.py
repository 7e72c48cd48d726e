"""The plugin contract: every hook a jurisdiction plugin can implement.

Hooks return values that the core validates and merges, so the order in which plugins
run does not change the result (where it could, the merge rule is stated). A plugin
implements a hook with ``@parrhesia.plugin.hookimpl`` on a function of the same name,
taking any subset of the arguments listed here.

Every hook but ``parrhesia_event`` may also take ``config`` (the instance's
``InstanceConfig``; a plugin's own settings live under ``[plugins.<name>]`` in
``parrhesia.toml``, read from ``config.raw``).

Built-in behaviour is itself registered as plugins (``parrhesia.contract.defaults``),
``trylast`` so that a jurisdiction plugin's definitions come first.
"""

from __future__ import annotations

import pluggy

from parrhesia.config import InstanceConfig

# Only value types, from modules that load neither a database nor a web app: plugin
# authors import the contract without the core (tests/test_plugin_contract.py).
from parrhesia.contract.clocks import Clock
from parrhesia.contract.directory import Directory, DirectoryContribution
from parrhesia.contract.events import Event
from parrhesia.contract.intake import IntakeField, SourceNotice
from parrhesia.contract.notification_batch import Notification
from parrhesia.contract.protection import ProtectionMeasure
from parrhesia.contract.retention_rule import RetentionRule
from parrhesia.contract.routing_request import DutyBody, EscalationStep, Exclusion, RoutingRequest

__all__ = ["hookspec", "PROJECT_NAME"]

PROJECT_NAME = "parrhesia"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------
# Start-up: the directory and the catalogues (called once per app)
# ---------------------------------------------------------------------------


@hookspec
def parrhesia_directory(config: InstanceConfig) -> DirectoryContribution | None:
    """Contribute bodies and relations to the directory.

    Return a ``DirectoryContribution`` (or None). Contributions of all plugins are
    merged; a body id defined twice, a parent or relation naming an unknown body, or
    a cycle in the chain of command stops start-up with a message naming the plugin.
    """


@hookspec
def parrhesia_intake_fields(directory: Directory, config: InstanceConfig) -> list[IntakeField]:
    """Questions to ask the source, each marked routing (server-visible) or content.

    Return a list of ``IntakeField``. Fields are merged by name: the first
    definition wins (plugins before built-in defaults) and choices are united, so a
    jurisdiction adds its subjects to the ``subject`` field by returning a field
    named ``subject`` with its choices.
    """


@hookspec
def parrhesia_statuses(config: InstanceConfig) -> list[str]:
    """Report statuses a jurisdiction adds to the core ones (received, acknowledged,
    assessing, investigating, referred, closed). Return a list of lowercase ids
    (letters, digits, '-'); all are kept, after the core ones.
    """


@hookspec
def parrhesia_protection_measures(directory: Directory, config: InstanceConfig) -> list[ProtectionMeasure]:
    """The protection measures a jurisdiction offers. Return a list; all are kept."""


# ---------------------------------------------------------------------------
# Routing: called for every report (and for every dry run) with the routing fields
# ---------------------------------------------------------------------------


@hookspec
def parrhesia_route(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> list[str]:
    """Propose bodies (ids) that should receive the report.

    Return a list of body ids; proposals of all plugins are united. The core then
    removes every body in conflict, so a plugin need not (and cannot) override the
    conflict rule. An empty union falls back to the recipient of last resort.
    """


@hookspec
def parrhesia_duty_bodies(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> list[DutyBody]:
    """The jurisdiction's duty bodies for imminent danger, called only for a report whose
    source marked it urgent.

    Return a list of ``DutyBody(body_id, hours, legal_source)``. Each one not in
    conflict joins the route with a clock of that many hours (kept at day precision,
    rounded up) and its recipients are notified at once, outside the hourly batch.
    """


@hookspec
def parrhesia_conflicts(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> list[Exclusion]:
    """Bodies to exclude for this report, in addition to the core conflict rule.

    Return a list of ``Exclusion(body_id, reason)``; all are applied. The reason is
    shown to the source.
    """


@hookspec
def parrhesia_escalation(
    request: RoutingRequest, directory: Directory, route: tuple[str, ...], config: InstanceConfig
) -> list[EscalationStep]:
    """The escalation chain: bodies that receive the report next, with a rank.

    Return a list of ``EscalationStep(body_id, rank)``. Steps of all plugins are
    merged and ordered by rank (then id); bodies in conflict or already on the route
    are dropped. The source sees them as "may receive on escalation".
    """


@hookspec
def parrhesia_clocks(
    request: RoutingRequest, directory: Directory, route: tuple[str, ...], config: InstanceConfig
) -> list[Clock]:
    """Legal deadlines to attach to the report. Return a list of ``Clock``.

    Clocks are merged by id (the first definition wins); their due dates are
    computed from the day of submission and stored with the report.
    """


@hookspec
def parrhesia_retention(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> RetentionRule | None:
    """How long a closed report may be kept. Return a ``RetentionRule(days,
    legal_source)`` or None if this plugin has no rule for the report.

    When several rules apply the longest wins; a report no plugin gives a rule for is
    kept. After the period ``parrhesia tick`` destroys it (crypto-shredding) unless a
    legal hold blocks it.
    """


@hookspec
def parrhesia_source_notices(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> list[SourceNotice]:
    """Information shown to the source before sending (rights, external channels,
    conditions for public disclosure). Return a list of ``SourceNotice``; merged by id.
    """


# ---------------------------------------------------------------------------
# Events and notifications: after something happened
# ---------------------------------------------------------------------------


@hookspec
def parrhesia_event(event: Event) -> None:
    """React to an event (report received, routed…). The event carries identifiers
    only, never content. Return nothing; an exception is logged and never stops the
    report.
    """


@hookspec
def parrhesia_notify(notification: Notification, config: InstanceConfig) -> bool | None:
    """Deliver one batched notification to one recipient (e-mail, webhook, …).

    ``notification`` holds the recipient's name and address and counts by kind
    ("new-report", "new-message", "clock-due") — never content, a subject or a report
    id. Return True if this plugin delivered it, None if it does not handle it (for
    example, not configured). The items stay queued until some plugin returns True;
    an exception is recorded and never stops other plugins.
    """
