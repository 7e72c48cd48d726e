"""``parrhesia doctor``: one line per check, and a non-zero exit when any check FAILs."""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import tomli_w
from flask import Flask
from sqlalchemy.orm import Session

from parrhesia.instance import init_instance
from parrhesia.ops.doctor import (
    GIB,
    Check,
    Status,
    check_last_tick,
    check_onion_services,
    core_dump_check,
    disk_check,
    record_tick,
    swap_check,
)
from parrhesia.storage.migrate import HEAD
from parrhesia.storage.models import PluginError, QueuedNotification, Recipient
from parrhesia.testing import InstanceRunner, install_key_manifest

MACHINE_DEPENDENT = ("free disk where blobs are", "swap off or encrypted", "core dumps off", "Tor onion service")


def _lines(runner: InstanceRunner) -> tuple[int, list[str]]:
    result = runner.invoke("doctor")
    return result.exit_code, result.output.splitlines()


def _line(lines: list[str], title: str) -> str:
    found = [line for line in lines if line.split(" ", 1)[1].lstrip().startswith(title)]
    assert len(found) == 1, lines
    return found[0]


def test_a_good_instance_is_all_ok_and_exits_zero(app: Flask, runner: InstanceRunner) -> None:
    assert runner.invoke("tick").exit_code == 0  # records the tick the doctor looks for
    install_key_manifest(app)
    code, lines = _lines(runner)
    assert code == 0, lines
    for title in MACHINE_DEPENDENT:
        assert _line(lines, title).split()[0] in {"OK", "WARN"}
    others = [line for line in lines if not any(title in line for title in MACHINE_DEPENDENT)]
    assert [line.split()[0] for line in others] == ["OK"] * 12, lines
    assert _line(lines, "clocks ticking").startswith("OK   clocks ticking (parrhesia tick): last tick ")


def test_a_broken_config_fails(instance_dir: Path, runner: InstanceRunner) -> None:
    config_file = instance_dir / "parrhesia.toml"
    config_file.write_text(tomli_w.dumps({"instance": {"name": "Broken", "session_minutes": 0}}), encoding="utf-8")
    code, lines = _lines(runner)
    assert code == 1
    assert lines == [
        f"FAIL configuration parrhesia.toml: {config_file}: instance.session_minutes must be between 1 and 1440 "
        "Fix the file; nothing else can be checked until then."
    ]


def test_a_missing_pepper_fails(app: Flask, instance_dir: Path, runner: InstanceRunner) -> None:
    (instance_dir / "secrets" / "pepper").unlink()
    code, lines = _lines(runner)
    assert code == 1
    assert _line(lines, "pepper") == (
        f"FAIL pepper and codename derivation match the database: {instance_dir}/secrets/pepper is missing: "
        "restore it from the instance's backup (or, for an instance never initialised, run `parrhesia init`)."
    )


def test_a_pepper_from_another_instance_fails(app: Flask, instance_dir: Path, tmp_path: Path, runner: InstanceRunner) -> None:
    init_instance(tmp_path / "other").dispose()
    (instance_dir / "secrets" / "pepper").write_bytes((tmp_path / "other" / "secrets" / "pepper").read_bytes())
    code, lines = _lines(runner)
    assert code == 1
    assert _line(lines, "pepper") == (
        f"FAIL pepper and codename derivation match the database: {instance_dir}/secrets/pepper is not the one "
        "this instance's database was created with: restore it from the backup taken with the database. "
        "With another one no source could log in."
    )


def test_a_schema_behind_fails(app: Flask, instance_dir: Path, runner: InstanceRunner) -> None:
    from alembic import command
    from alembic.config import Config

    import parrhesia.storage.migrate

    config = Config()
    config.set_main_option("script_location", str(Path(parrhesia.storage.migrate.__file__).parent / "migrations"))
    with app.extensions["parrhesia.instance"].engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")
    code, lines = _lines(runner)
    assert code == 1
    assert _line(lines, "database schema") == (
        f"FAIL database schema: at revision 0010, this version needs {HEAD}: "
        f"run `parrhesia init --instance {instance_dir}` to apply the migrations"
    )
    assert _line(lines, "recipient of last resort") == (
        "WARN recipient of last resort can read: not checked: the database schema is not current"
    )


def test_a_blob_store_that_is_not_a_folder_fails(app: Flask, instance_dir: Path, runner: InstanceRunner) -> None:
    # A file, not chmod: the tests run as root, for whom every mode is writable.
    blobs = instance_dir / "blobs"
    shutil.rmtree(blobs)
    blobs.write_bytes(b"")
    code, lines = _lines(runner)
    assert code == 1
    assert _line(lines, "blob store") == (
        f"FAIL blob store {blobs} writable: it is not a folder: restore it (ciphertext of every report) "
        "from the backup, or create it owned by the service's user, mode 0700"
    )


def test_no_readable_recipient_of_last_resort_fails(instance_dir: Path, runner: InstanceRunner) -> None:
    code, lines = _lines(runner)  # no app: nobody has registered, nobody can read
    assert code == 1
    assert _line(lines, "recipient of last resort") == (
        "FAIL recipient of last resort can read: none of integrity-office, ombudsman has a recipient able to "
        "read: a report routed nowhere else would reach nobody; register a recipient there who creates the body key"
    )
    assert _line(lines, "every body").startswith("WARN every body in the directory can read: no recipient can read "
                                                 "for integrity-office, ombudsman:")


def test_recent_plugin_errors_and_a_stuck_queue_warn(app: Flask, runner: InstanceRunner) -> None:
    today = app.extensions["parrhesia.instance"].config.today()
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        db.add_all([PluginError(occurred_on=today, plugin="demo", hook="h", error="KeyError") for _ in range(3)])
        db.add(PluginError(occurred_on=today - timedelta(days=30), plugin="demo", hook="h", error="KeyError"))
        someone = db.query(Recipient).first()
        assert someone is not None
        db.add(QueuedNotification(recipient_id=someone.id, kind="new-report", created_on=today - timedelta(days=3)))
        db.commit()
    code, lines = _lines(runner)
    assert _line(lines, "plugin errors").startswith("WARN plugin errors in the last 7 days: 3 recorded:")
    assert _line(lines, "notification queue").startswith("WARN notification queue draining: 1 notification(s) queued")


def test_a_tick_older_than_two_days_or_never_warns(tmp_path: Path) -> None:
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    assert check_last_tick(tmp_path, now).status is Status.WARN
    record_tick(tmp_path, now - timedelta(days=3))
    assert check_last_tick(tmp_path, now).advice.startswith("last tick 2026-03-07T12:00:00+00:00: deadlines are not enforced")
    record_tick(tmp_path, now - timedelta(hours=1))
    assert check_last_tick(tmp_path, now) == Check(Status.OK, "clocks ticking (parrhesia tick)", "last tick 2026-03-10T11:00:00+00:00")


def test_free_disk_thresholds() -> None:
    total = 1000 * GIB
    assert disk_check(200 * GIB, total, Path("/")).status is Status.OK
    assert disk_check(50 * GIB, total, Path("/")).status is Status.WARN
    assert disk_check(15 * GIB, total, Path("/")).status is Status.FAIL  # under 2 %
    assert disk_check(GIB // 2, 4 * GIB, Path("/")).status is Status.FAIL  # under 1 GiB, whatever the share


def test_only_swap_on_a_mapped_device_counts_as_encrypted() -> None:
    header = "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n"
    assert swap_check(header).status is Status.OK
    assert swap_check(header + "/dev/mapper/cryptswap  partition  1048572  0  -2\n").status is Status.OK
    assert swap_check(header + "/dev/dm-1  partition  1048572  0  -2\n").status is Status.OK
    plain = swap_check(header + "/swapfile  file  1048572  0  -2\n")
    assert plain.status is Status.WARN and "plaintext can reach swap on /swapfile" in plain.advice
    assert swap_check(None).status is Status.WARN


def test_core_dumps_warn_with_the_systemd_fix() -> None:
    assert core_dump_check(0).status is Status.OK
    assert "LimitCORE=0" in core_dump_check(-1).advice


def test_onion_hostnames_are_looked_for_in_the_tor_table(instance_dir: Path, tmp_path: Path) -> None:
    from parrhesia.config import load_config

    config = load_config(instance_dir)
    assert check_onion_services(config).line() == (
        "WARN Tor onion service: no onion service configured: sources need one (deploy/README.md, Tor onion service)"
    )
    (tmp_path / "source").mkdir()
    (tmp_path / "source" / "hostname").write_text("abc.onion\n")
    raw = {**config.raw, "tor": {"source_onion_dir": str(tmp_path / "source"), "desk_onion_dir": str(tmp_path / "desk")}}
    missing = check_onion_services(replace(config, raw=raw))
    assert missing.status is Status.FAIL and str(tmp_path / "desk" / "hostname") in missing.advice
    (tmp_path / "desk").mkdir()
    (tmp_path / "desk" / "hostname").write_text("def.onion\n")
    assert check_onion_services(replace(config, raw=raw)).advice == "desk def.onion, source abc.onion"

