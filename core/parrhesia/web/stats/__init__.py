"""Public annual statistics (/statistics, /statistics.csv) and the optional "who
reports" questions offered to a source after the codename page (/about-you)."""

from parrhesia.web.stats.views import bp

__all__ = ["bp"]
