"""Retention: closed reports are destroyed when their jurisdiction says so.

Plugins give :class:`RetentionRule` s through ``parrhesia_retention``; when several
apply, the longest wins (destruction cannot be undone, and a legal duty to keep a
record outweighs a shorter default). A report closed longer ago than its rule allows
is destroyed by crypto-shredding: every blob of its ciphertext and every sealed copy of
its key are deleted, with the report's rows, so nothing left anywhere can open it. A
legal hold blocks destruction. The audit log keeps a content-free record.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.contract.manager import PluginFailure, call_each
from parrhesia.contract.retention_rule import RetentionRule
from parrhesia.contract.routing_request import RoutingRequest
from parrhesia.domain import audit
from parrhesia.domain.host import PluginHost
from parrhesia.instance import Instance
from parrhesia.storage.models import Report

__all__ = ["RetentionRule", "RetentionResult", "rule_for", "apply_retention", "destroy"]


@dataclass
class RetentionResult:
    destroyed: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)
    failures: list[PluginFailure] = field(default_factory=list)


def rule_for(host: PluginHost, report: Report) -> tuple[RetentionRule | None, list[PluginFailure]]:
    """The longest rule the plugins give for a report, and the plugins that failed (a
    caller keeps the report when any did)."""
    fields: dict[str, tuple[str, ...]] = {}
    for row in report.fields:
        fields[row.name] = (*fields.get(row.name, ()), row.value)
    results, failures = call_each(
        host.manager, "parrhesia_retention",
        request=RoutingRequest.from_fields(fields), directory=host.directory, config=host.config,
    )
    rules: list[RetentionRule] = []
    for plugin, answer in results:
        if isinstance(answer, RetentionRule):
            rules.append(answer)
        else:
            # Not a rule: perhaps a longer legal duty written wrongly. Ignoring it could let
            # a shorter rule destroy the report early, so it counts as a failure (keep).
            failures.append(PluginFailure(plugin, "parrhesia_retention", "TypeError",
                                          f"returned {type(answer).__name__}, not a RetentionRule"))
    return (max(rules, key=lambda r: r.days) if rules else None), failures


def apply_retention(host: PluginHost, instance: Instance, db: Session, *, on: date) -> RetentionResult:
    """Destroy every closed (or junk) report whose retention period has ended (unless held)."""
    result = RetentionResult()
    # A report marked as junk is closed too, from the day of the mark (casework.mark_junk).
    closed = db.scalars(select(Report).where(Report.status.in_(("closed", "junk")), Report.closed_on.is_not(None))).all()
    for report in closed:
        rule, failures = rule_for(host, report)
        result.failures += failures
        if rule is None or failures or report.closed_on is None:
            continue  # no rule, or a plugin failed: keep the report, never guess
        if report.closed_on + timedelta(days=rule.days) >= on:
            continue
        if report.legal_hold:
            result.held.append(report.id)
            continue
        destroy(instance, db, report, actor="system", reason=rule.legal_source)
        result.destroyed.append(report.id)
    return result


def destroy(instance: Instance, db: Session, report: Report, *, actor: str, reason: str) -> None:
    """Crypto-shred a report: its blobs, its sealed keys and its rows. Commits."""
    if report.legal_hold:
        raise ValueError("a report under legal hold cannot be destroyed")
    report_id = report.id
    blobs = [part.blob for part in report.parts]
    db.delete(report)  # cascades: sealed keys, parts, route, fields, clocks, sessions
    audit.record(db, "destroyed", actor=actor, report_id=report_id, detail={"reason": reason[:200], "parts": len(blobs)})
    db.commit()
    for name in blobs:
        instance.blobs.delete(name)
    engine = instance.engine
    if engine.dialect.name == "sqlite":
        # Old pages of the deleted rows (sealed keys) may linger in the write-ahead log
        # until a checkpoint; secure_delete then overwrites them in the database file.
        # Run outside any transaction, on the driver's own connection.
        raw = engine.raw_connection()
        try:
            driver = raw.driver_connection
            if driver is not None:  # always, for a connection just checked out of the pool
                driver.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            raw.close()
