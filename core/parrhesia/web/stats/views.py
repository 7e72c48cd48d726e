"""Views: the public statistics page and CSV, and the "who reports" questions.

Both statistics outputs print only what :mod:`parrhesia.domain.statistics` publishes
(suppressed, whole completed years), which is why they can be public. An instance
can still turn them off, and the questions too, in its ``parrhesia.toml``::

    [statistics]
    public = false        # /statistics and /statistics.csv answer 404 (default: true)
    demographics = false  # /about-you is not offered (default: true)
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from flask import Blueprint, abort, current_app, redirect, render_template, request, session, url_for
from flask.blueprints import BlueprintSetupState
from werkzeug.wrappers import Response

from parrhesia.config import ConfigError, InstanceConfig
from parrhesia.domain.demographics import QUESTIONS, record_answers
from parrhesia.domain.host import current_host
from parrhesia.storage.db import get_session
from parrhesia.web.source import session as source_session
from parrhesia.web.stats.forms import WhoReportsForm

if TYPE_CHECKING:
    from parrhesia.domain.statistics import Statistics

__all__ = ["bp", "StatisticsSettings", "statistics_settings"]

bp = Blueprint("statistics", __name__)

_SETTINGS = "parrhesia.domain.statistics"
# Set in the signed session cookie once answered, so the same person is not asked twice
# in a session; it says nothing about which report or what was answered.
_ANSWERED = "about_you"
# Spreadsheet programs run a cell that starts with one of these as a formula.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class StatisticsSettings:
    public: bool = True
    demographics: bool = True


def statistics_settings(config: InstanceConfig) -> StatisticsSettings:
    """The ``[statistics]`` table of an instance; a wrong type is a ConfigError."""
    table = config.raw.get("statistics", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{config.path}: [statistics] must be a table")
    unknown = sorted(set(table) - {"public", "demographics"})
    if unknown:
        raise ConfigError(f"{config.path}: unknown settings in [statistics]: {unknown}")
    for key in ("public", "demographics"):
        if key in table and not isinstance(table[key], bool):
            raise ConfigError(f"{config.path}: statistics.{key} must be true or false")
    return StatisticsSettings(public=table.get("public", True), demographics=table.get("demographics", True))


@bp.record_once
def _read_settings(state: BlueprintSetupState) -> None:
    # Checked at start-up: a mistyped setting stops the instance instead of publishing.
    state.app.extensions[_SETTINGS] = statistics_settings(state.app.extensions["parrhesia.domain.host"].config)


@bp.app_context_processor
def _offer_questions() -> dict[str, bool]:
    # The codename page links to the optional questions when the instance asks them.
    return {"who_reports_offered": _settings().demographics}


def _settings() -> StatisticsSettings:
    settings: StatisticsSettings = current_app.extensions[_SETTINGS]
    return settings


# parrhesia.domain.statistics and the charts are imported by these views only when a page is
# asked for: a web worker that never serves statistics does not hold them in memory.


@bp.get("/statistics")
def page() -> str:
    from parrhesia.domain.statistics import SMALL, WITHHELD
    from parrhesia.web.stats.charts import bar_chart

    stats, years = _published()
    return render_template(
        "statistics/page.html",
        stats=stats,
        years=years,
        charts={t.key: bar_chart(t) for t in (*stats.tables, *stats.demographics)} if stats else {},
        small=SMALL,
        withheld=WITHHELD,
        this_year=_today().year,
    )


@bp.get("/statistics.csv")
def export() -> Response:
    from parrhesia.domain.statistics import csv_rows

    stats, _years = _published()
    if stats is None:
        abort(404)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in csv_rows(stats):
        writer.writerow([f"'{value}" if value.startswith(_FORMULA_START) else value for value in row])
    return Response(
        buffer.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="statistics-{stats.year}.csv"'},
    )


@bp.route("/about-you", methods=["GET", "POST"])
def about_you() -> Response | tuple[str, int] | str:
    """Optional questions after the codename page: skippable, nothing required."""
    if not _settings().demographics:
        abort(404)
    # Only a source who has just sent (or is logged in to) a report is asked: it keeps
    # the counts from being filled by anyone passing by. Nothing of the report is used.
    if source_session.current() is None:
        return redirect(url_for("source.index"), code=303)
    if session.get(_ANSWERED):
        return render_template("statistics/about_you_thanks.html")
    form = WhoReportsForm()
    if form.validate_on_submit():
        db = get_session()
        record_answers(db, {q.name: getattr(form, q.name).data for q in QUESTIONS}, year=_today().year)
        db.commit()
        session[_ANSWERED] = True
        return render_template("statistics/about_you_thanks.html")
    status = 400 if request.method == "POST" else 200
    return render_template("statistics/about_you.html", form=form, questions=QUESTIONS), status


def _today() -> date:
    """Today in the instance's time zone (the day its deadlines are counted in)."""
    return current_host().config.today()


def _published() -> tuple[Statistics | None, list[int]]:
    """The statistics of the requested completed year (default: the latest), or None."""
    from parrhesia.domain.statistics import compile_statistics, completed_years

    if not _settings().public:
        abort(404)
    db = get_session()
    years = completed_years(db, on=_today())
    wanted = request.args.get("year", type=int)
    if wanted is not None and wanted not in years:
        abort(404)
    year = wanted or (years[0] if years else None)
    if year is None:
        return None, years
    return compile_statistics(db, current_host(), year, on=_today()), years
