"""A test plugin giving each jurisdiction its own retention period; silentland has none."""

from parrhesia.plugin import RetentionRule, hookimpl

RULES = {
    "northland": RetentionRule(days=30, legal_source="Northland Records Act s.3"),
    "southland": RetentionRule(days=365, legal_source="Southland Archives Act s.9"),
    # Short on purpose: only broken_retention_plugin's failure stands in the way.
    "brokenland": RetentionRule(days=1, legal_source="Brokenland Records Act s.1"),
    "oddland": RetentionRule(days=1, legal_source="Oddland Records Act s.1"),
}


@hookimpl
def parrhesia_retention(request):  # type: ignore[no-untyped-def]
    return RULES.get(request.jurisdiction)
