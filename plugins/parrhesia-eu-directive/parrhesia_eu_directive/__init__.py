"""Parrhesia plugin for EU Directive 2019/1937 on the protection of persons who report
breaches of Union law (the Whistleblower Directive).

It attaches the Directive's two deadlines to every report and tells the source, before
sending, when a public disclosure is protected (Art 15) and how their identity is kept
confidential (Art 16). It contributes no bodies: it applies to the bodies of the
jurisdiction plugins an instance enables.

Its clocks apply to the jurisdictions it declares (:data:`DEFAULT_JURISDICTIONS`: the
Union's member states by ISO 3166-1 code, ``eu`` for bodies of the Union itself, and the
fictional Republic of Example, an EU member state, for the demo), so an instance that
also serves a country outside the Union gives that country's reports none of them.
Settings, in the instance's ``parrhesia.toml`` (optional)::

    [plugins.eu-directive]
    jurisdictions = ["instance"]   # instead of the defaults; or "all" for every jurisdiction

The notices are information for the source, not legal advice. Items marked "(verify)"
were not checked against the primary text (see DOMAIN.md) and must be checked before
an instance presents them as law.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask_babel import lazy_gettext as _l

from parrhesia.plugin import (
    Clock,
    ConfigError,
    Directory,
    InstanceConfig,
    IntakeField,
    RoutingRequest,
    SourceNotice,
    hookimpl,
)
from parrhesia.plugin import gettext_noop as N_

__all__ = [
    "PLUGIN_NAME",
    "ACKNOWLEDGE",
    "FEEDBACK",
    "applies_to",
    "parrhesia_intake_fields",
    "parrhesia_clocks",
    "parrhesia_source_notices",
]

PLUGIN_NAME = "eu-directive"  # the entry-point name, and the name of its settings table

ACKNOWLEDGE = Clock(
    id="eu-acknowledge",
    label=N_("Acknowledge receipt to the reporting person"),
    # Directive 2019/1937 Art 9(1)(b) (internal channels), Art 11(2)(b) (external
    # channels: unless the reporting person objects, or acknowledging would endanger
    # their identity).
    legal_source="Directive 2019/1937 Art 9(1)(b), Art 11(2)(b)",
    days=7,
    met_by="acknowledge",
)

FEEDBACK = Clock(
    id="eu-feedback",
    label=N_("Give feedback to the reporting person on the follow-up"),
    # Directive 2019/1937 Art 9(1)(f): within 3 months of the acknowledgement or, without
    # one, of the end of the 7-day period. Counted here from submission, which is never
    # later than either, so the clock never falls due after the legal deadline.
    # Directive 2019/1937 Art 11(2)(d): external channels may extend it to 6 months in
    # duly justified cases (a recipient records the reason).
    legal_source="Directive 2019/1937 Art 9(1)(f), Art 11(2)(d)",
    months=3,
    extendable_to_months=6,
    met_by="feedback",
)


def _settings(config: InstanceConfig) -> dict[str, object]:
    plugins = config.raw.get("plugins", {})
    settings = plugins.get(PLUGIN_NAME, {}) if isinstance(plugins, dict) else {}
    if not isinstance(settings, dict):
        raise ConfigError(f"[plugins.{PLUGIN_NAME}] must be a table")
    return settings


# Directive 2019/1937 Art 26: transposed by the Union's 27 member states.
MEMBER_STATES = frozenset({
    "at", "be", "bg", "cy", "cz", "de", "dk", "ee", "es", "fi", "fr", "gr", "hr", "hu", "ie", "it", "lt", "lu",
    "lv", "mt", "nl", "pl", "pt", "ro", "se", "si", "sk",
})
DEFAULT_JURISDICTIONS = MEMBER_STATES | {"eu", "example"}


def _jurisdictions(config: InstanceConfig) -> frozenset[str] | None:
    """The jurisdictions the Directive applies to on this instance (None: all)."""
    value = _settings(config).get("jurisdictions")
    if value is None:
        return DEFAULT_JURISDICTIONS
    if value == "all":
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(
            f'[plugins.{PLUGIN_NAME}] jurisdictions must be a non-empty list of jurisdiction ids or "all" '
            "(leave it out for the Union's member states)"
        )
    return frozenset(value)


def _configured(config: InstanceConfig) -> frozenset[str]:
    """The jurisdictions the instance named itself (checked against the directory)."""
    value = _settings(config).get("jurisdictions")
    covered = _jurisdictions(config)
    return covered if isinstance(value, list) and covered is not None else frozenset()


def applies_to(config: InstanceConfig, request: RoutingRequest, directory: Directory, route: Sequence[str] = ()) -> bool:
    """Whether the Directive governs this report.

    It does when the source chose a jurisdiction it covers; without a chosen
    jurisdiction, when the implicated body or any body on the route belongs to one.
    """
    covered = _jurisdictions(config)
    if covered is None:
        return True
    if request.jurisdiction is not None:
        return request.jurisdiction in covered
    candidates = [request.implicated, *route] if request.implicated else list(route)
    if not candidates:
        # Nothing chosen or routed yet (the notices before sending): whenever the report
        # may concern a jurisdiction the Directive covers.
        return bool(covered & set(directory.jurisdictions()))
    return any((body := directory.get(b)) is not None and body.jurisdiction in covered for b in candidates if b)


@hookimpl
def parrhesia_intake_fields(directory: Directory, config: InstanceConfig) -> list[IntakeField]:
    # No questions of its own. This hook runs once at start-up with the merged
    # directory: the place to refuse settings that would silently drop legal deadlines
    # (a mistyped jurisdiction), so that start-up stops with this plugin's name.
    unknown = sorted(_configured(config) - set(directory.jurisdictions()))
    if unknown:
        raise ConfigError(
            f"[plugins.{PLUGIN_NAME}] jurisdictions names jurisdictions that no enabled plugin "
            f"defines: {unknown} (known: {directory.jurisdictions()})"
        )
    return []


@hookimpl
def parrhesia_clocks(
    request: RoutingRequest, directory: Directory, route: tuple[str, ...], config: InstanceConfig
) -> list[Clock]:
    if not applies_to(config, request, directory, route):
        return []
    return [ACKNOWLEDGE, FEEDBACK]


@hookimpl
def parrhesia_source_notices(request: RoutingRequest, directory: Directory, config: InstanceConfig) -> list[SourceNotice]:
    if not applies_to(config, request, directory):
        return []
    return [
        SourceNotice(
            id="eu-deadlines",
            title=_l("When you will hear back"),
            text=_l(
                "The bodies that receive your report must confirm receipt within 7 days and "
                "tell you what they are doing about it within 3 months (6 months in duly "
                "justified cases, for which they must give a reason). If they do not, your "
                "report moves on to the next independent body."
            ),
            # Directive 2019/1937 Art 9(1)(b), 9(1)(f), 11(2)(b), 11(2)(d)
            legal_source="Directive 2019/1937 Art 9(1)(b), (f); Art 11(2)(b), (d)",
        ),
        SourceNotice(
            id="eu-confidentiality",
            title=_l("Your identity stays confidential"),
            text=_l(
                "Your identity, and anything from which it could be deduced, may not be "
                "disclosed beyond the staff authorised to handle reports without your "
                "explicit consent. The only exceptions are those necessary and proportionate "
                "in investigations or court proceedings; you must then be told beforehand, "
                "with written reasons, unless that would jeopardise the proceedings."
            ),
            # Directive 2019/1937 Art 16(1), 16(2), 16(3)
            legal_source="Directive 2019/1937 Art 16",
        ),
        SourceNotice(
            id="eu-public-disclosure",
            title=_l("When you may make it public"),
            text=_l(
                "This is information, not legal advice. Making your report public (to the "
                "press, online) is protected when: (1) you reported through an internal or "
                "an external channel and no appropriate action was taken within the time "
                "limits above; or (2) you have reasonable grounds to believe that the breach "
                "is an imminent or manifest danger to the public interest; or (3) reporting "
                "to the authorities would risk retaliation or has little prospect of being "
                "dealt with effectively, for example because evidence may be concealed or "
                "destroyed, or an authority may be in collusion with the perpetrator or "
                "involved in the breach (verify exact wording). Take advice before going "
                "public: the conditions are strict and depend on your country's law."
            ),
            # Directive 2019/1937 Art 15(1)(a) (no action within the Art 9/11 time frames),
            # Art 15(1)(b)(i) (imminent or manifest danger), Art 15(1)(b)(ii) (retaliation,
            # concealment, collusion) (verify exact wording)
            legal_source="Directive 2019/1937 Art 15(1) (verify)",
        ),
    ]
