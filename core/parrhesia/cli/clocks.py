"""``parrhesia tick`` and ``parrhesia escalate``: deadlines and recorded decisions."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import click
from sqlalchemy.orm import Session

from parrhesia.cli.common import instance_option, load_instance
from parrhesia.domain.clock_engine import tick as run_tick
from parrhesia.domain.deadlines import report_day
from parrhesia.domain.escalation import escalate as escalate_report
from parrhesia.domain.events import dispatch
from parrhesia.domain.host import load_host
from parrhesia.domain.protection_requests import DISCLOSURE_NOTICE_DAYS, ProtectionError, decide_disclosure
from parrhesia.domain.reports import record_plugin_failures
from parrhesia.ops.doctor import record_tick
from parrhesia.storage.models import ProtectionRequest, Report

__all__ = ["tick", "escalate", "hold", "disclose"]

now_option = click.option(
    "--now", "now", type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), default=None,
    help="Simulate this date (ISO) instead of today in the instance's time zone.",
)


def _day(instance_day: date, now: datetime | None) -> date:
    return now.date() if now else instance_day


@click.command()
@instance_option
@now_option
def tick(instance_dir: Path, now: datetime | None) -> None:
    """Evaluate every clock: missed deadlines escalate their reports."""
    instance = load_instance(instance_dir)
    host = load_host(instance.config)
    day = now.date() if now else None
    with Session(instance.engine) as db:
        result = run_tick(host, db, on=day, instance=instance)
        record_plugin_failures(db, result.retention.failures, None, on=day or instance.config.today())
        db.commit()
    instance.dispose()
    record_tick(instance.config.path)  # for `parrhesia doctor`: when a tick last worked
    for report_id in result.retention.destroyed:
        click.echo(f"destroyed\t{report_id}")
    for report_id in result.retention.held:
        click.echo(f"held\t{report_id}\t(legal hold: kept past its retention period)")
    for report_id in result.restored:
        click.echo(f"restored\t{report_id}\t(the jurisdiction's own deadlines replace the fallback ones)")
    for report_id, clock_id in result.missed:
        click.echo(f"missed\t{report_id}\t{clock_id}")
    for report_id, body in result.escalated:
        click.echo(f"escalated\t{report_id}\t{body or 'no independent body left'}")
    if result.orphans.collected or result.orphans.temporaries:  # as the lines above: only when there is news
        click.echo(f"collected {len(result.orphans.collected)} orphan blob(s), "
                   f"removed {result.orphans.temporaries} stale temporary file(s)")
    when = day.isoformat() if day else "today"
    click.echo(f"{when}: {len(result.missed)} clock(s) missed, {len(result.escalated)} report(s) escalated")


@click.command()
@instance_option
@click.option("--report", "report_id", required=True)
@click.option("--reason", required=True, help="The operator's recorded reason.")
@click.option("--operator", "operator_name", required=True, help="Who decided (recorded in the audit log).")
@now_option
def escalate(instance_dir: Path, report_id: str, reason: str, operator_name: str, now: datetime | None) -> None:
    """Escalate a report by an operator's decision, recorded with its reason."""
    if not reason.strip():
        raise click.ClickException("Give the reason for the decision.")
    instance = load_instance(instance_dir)
    host = load_host(instance.config)
    with Session(instance.engine) as db:
        report = db.get(Report, report_id)
        if report is None:
            raise click.ClickException(f"No report {report_id!r}.")
        day = _day(report_day(instance.config, report), now)
        step = escalate_report(host, db, report, trigger="operator", actor=f"operator:{operator_name}"[:40],
                               on=day, reason=reason)
        db.commit()
        dispatch(host, db, step.events, on=day)
        body = step.body_id
    instance.dispose()
    click.echo(f"Report {report_id} escalated to {body}." if body else "No independent body is left to escalate to.")


@click.command()
@instance_option
@click.option("--report", "report_id", required=True)
@click.option("--reason", help="Why the report must be kept (required to place a hold).")
@click.option("--release", is_flag=True, help="Release the hold instead.")
@click.option("--operator", "operator_name", required=True, help="Who decided (recorded in the audit log).")
def hold(instance_dir: Path, report_id: str, reason: str | None, release: bool, operator_name: str) -> None:
    """Place (or release) a legal hold: a held report is never destroyed."""
    from parrhesia.domain import audit

    if not release and not (reason or "").strip():
        raise click.ClickException("Give the reason for the legal hold.")
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        report = db.get(Report, report_id)
        if report is None:
            raise click.ClickException(f"No report {report_id!r}.")
        report.legal_hold = not release
        audit.record(db, "hold.release" if release else "hold", actor=f"operator:{operator_name}"[:40],
                     report_id=report_id, detail={"reason": (reason or "")[:200]})
        db.commit()
    instance.dispose()
    click.echo(f"Legal hold {'released' if release else 'placed'} on report {report_id}.")


@click.command("disclose")
@instance_option
@click.option("--request", "request_id", required=True, help="The protection request's id.")
@click.option("--custodian", required=True, help="The designated custodian who decides (recorded).")
@click.option("--reason", required=True, help="The written reasons, shown to the source at once.")
@click.option("--notice-days", type=click.IntRange(0, 365), default=DISCLOSURE_NOTICE_DAYS, show_default=True,
              help="Days between showing the reasons to the source and the disclosure.")
def disclose(instance_dir: Path, request_id: str, custodian: str, reason: str, notice_days: int) -> None:
    """Record a custodian's decision to disclose a source's identity without consent
    (Directive 2019/1937 Art 16): the reasons are shown to the source first."""
    instance = load_instance(instance_dir)
    with Session(instance.engine) as db:
        request = db.get(ProtectionRequest, request_id)
        if request is None:
            raise click.ClickException(f"No protection request {request_id!r}.")
        try:
            effective = decide_disclosure(db, request, custodian=custodian, reason=reason,
                                          on=instance.config.today(), notice_days=notice_days)
        except ProtectionError as problem:
            raise click.ClickException(str(problem)) from None
    instance.dispose()
    click.echo(f"Recorded. The source sees the reasons now; the identity becomes readable on {effective.isoformat()}.")
