"""A test plugin whose retention rule goes wrong: it raises for brokenland and gives an
answer that is not a RetentionRule for oddland (a longer duty, written wrongly)."""

from parrhesia.plugin import hookimpl


@hookimpl
def parrhesia_retention(request):  # type: ignore[no-untyped-def]
    if request.jurisdiction == "brokenland":
        raise RuntimeError("the records registry is unreachable")
    if request.jurisdiction == "oddland":
        return {"days": 10 * 365, "legal_source": "Oddland Archives Act s.2"}
    return None
