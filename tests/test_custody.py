"""Every report reaches a body that can read it, whoever is implicated, whoever has keys.

Runs on the demo jurisdiction (the Republic of Example) with a recipient holding the
body key at every body a report can reach, as ``parrhesia demo`` sets it up; on SQLite,
and on PostgreSQL when PARRHESIA_TEST_DATABASE_URL is set.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from parrhesia.cli import main
from parrhesia.ops.demo import DEMO_PLUGIN_SETTINGS, DEMO_PLUGINS, DEMO_SETTINGS, reachable_bodies
from parrhesia.recipient.client import DeskError, keyring_from
from parrhesia.storage.models import QueuedNotification, Recipient, Report
from parrhesia.testing import RegisteredRecipient, add_test_recipient, review_route, submit_report


@pytest.fixture
def instance_settings() -> dict[str, Any]:
    return {"plugins": DEMO_PLUGINS, "plugin_settings": DEMO_PLUGIN_SETTINGS, "bodies": [],
            "instance": DEMO_SETTINGS, "readers": False}


@pytest.fixture
def readers(app: Flask) -> dict[str, RegisteredRecipient]:
    """A recipient holding the body key at every body a report can reach (as the demo)."""
    host = app.extensions["parrhesia.domain.host"]
    return {body_id: add_test_recipient(app, body_id, f"Officer of {body_id}") for body_id in reachable_bodies(host)}


def _engine(app: Flask) -> Any:
    return app.extensions["parrhesia.instance"].engine


def _submit(app: Flask, **routing: str) -> Report:
    response, codename = submit_report(app.test_client(), "canary-custody", **routing)
    assert response.status_code == 200 and codename, response.get_data(as_text=True)[:500]
    with Session(_engine(app)) as db:
        # The newest report: the one holding the newest part.
        reports = db.scalars(select(Report)).all()
        found = max(reports, key=lambda r: max((p.seq for p in r.parts), default=0))
        db.expunge_all()
        return found


def _decrypts(app: Flask, reader: RegisteredRecipient, report_id: str) -> bool:
    with Session(_engine(app)) as db:
        public_key = db.get(Report, report_id).public_key  # type: ignore[union-attr]
    return bytes(reader.report_key(app.test_client(), report_id).public_key) == public_key


def _route(app: Flask, report_id: str) -> list[str]:
    with Session(_engine(app)) as db:
        report = db.get(Report, report_id)
        assert report is not None
        return [b.body_id for b in report.bodies if b.role == "route"]


def test_whoever_is_implicated_the_route_is_independent_and_a_routed_body_decrypts(
    app: Flask, readers: dict[str, RegisteredRecipient]
) -> None:
    directory = app.extensions["parrhesia.domain.host"].directory
    for implicated in sorted(directory.bodies):
        report = _submit(app, implicated=implicated)
        route = _route(app, report.id)
        conflicts = set(directory.conflicts_of(implicated))
        assert route, f"nobody receives a report implicating {implicated}"
        assert not conflicts & set(route), f"{implicated}: a body in conflict is on the route {route}"
        assert any(_decrypts(app, readers[b], report.id) for b in route if b in readers), implicated


def test_a_report_on_the_national_assembly_reaches_an_independent_body_and_the_source_is_told(
    app: Flask, readers: dict[str, RegisteredRecipient]
) -> None:
    page = review_route(app.test_client(), implicated="example-parliament").get_data(as_text=True)
    readers_part = page.split("These may receive it on escalation")[0]
    # Parliament appoints every domestic body that would receive it: the recipient of last
    # resort outside its control (the accredited NGO) does, and the page says why.
    assert "every body that would usually receive it is in conflict, so the recipient of last resort" in readers_part
    assert "Transparency Example" in readers_part
    assert "National Assembly" not in readers_part.split('class="route"')[1]
    report = _submit(app, implicated="example-parliament")
    (body,) = _route(app, report.id)
    assert body not in app.extensions["parrhesia.domain.host"].directory.conflicts_of("example-parliament")
    assert _decrypts(app, readers[body], report.id)


def test_a_recipient_vouched_for_after_submission_decrypts_and_the_operators_own_key_never_does(
    app: Flask, readers: dict[str, RegisteredRecipient], tmp_path: Any
) -> None:
    report = _submit(app, subject="public-procurement")
    assert "example-aca" in _route(app, report.id)
    newcomer = add_test_recipient(app, "example-aca", "New colleague")
    assert _decrypts(app, newcomer, report.id)
    # An operator registers a key of their own for the Agency, under the officer's name.
    key_file = tmp_path / "operator.key"
    passphrase = tmp_path / "pass"
    passphrase.write_text("operator passphrase\n")
    runner = CliRunner()
    made = runner.invoke(main, ["keys", "generate", "--out", str(key_file), "--passphrase-file", str(passphrase)])
    assert made.exit_code == 0, made.output
    instance_dir = str(app.extensions["parrhesia.instance"].config.path)
    added = runner.invoke(main, ["recipients", "add", "--instance", instance_dir, "--body", "example-aca",
                                 "--name", "Officer of example-aca", "--public-key-file", str(key_file)])
    assert added.exit_code == 0, added.output
    token = added.output.strip().splitlines()[-1]
    later = _submit(app, subject="public-procurement")
    from parrhesia.crypto import unwrap_private_key

    operator_key = unwrap_private_key(key_file.read_bytes(), b"operator passphrase")
    keyring = app.test_client().get("/api/v1/keyring", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert all(entry["grant"] is None for entry in keyring["keyring"])
    with pytest.raises(DeskError, match="no grant"):
        keyring_from(keyring, operator_key)
    with Session(_engine(app)) as db:
        operator_id = db.scalar(select(Recipient.id).where(Recipient.public_key == bytes(operator_key.public_key)))
        sealed_to = {(k.recipient_id, k.body_key_id is not None) for r in db.scalars(select(Report)) for k in r.sealed_keys}
    assert all(recipient_id != operator_id for recipient_id, _ in sealed_to)
    assert _decrypts(app, readers["example-aca"], later.id)


def test_recusal_and_transfer_end_at_a_body_that_decrypts_and_is_notified(
    app: Flask, readers: dict[str, RegisteredRecipient]
) -> None:
    client = app.test_client()
    report = _submit(app, subject="public-procurement")
    aca = readers["example-aca"]
    recused = client.post(f"/api/v1/reports/{report.id}/recusal", json={"reason": "my brother works there"},
                          headers=aca.headers)
    assert recused.status_code == 200, recused.get_data(as_text=True)
    (gained,) = recused.json["to"]
    assert _decrypts(app, readers[gained], report.id)
    assert client.get(f"/api/v1/reports/{report.id}", headers=aca.headers).status_code == 404
    # The body that gained it transfers it on, to a body of its chain: that body decrypts it too.
    holder = readers[gained]
    chain = client.get(f"/api/v1/reports/{report.id}", headers=holder.headers).json["escalation"]
    target = chain[0]
    moved = client.post(f"/api/v1/reports/{report.id}/transfer", json={"body": target, "reason": "their remit"},
                        headers=holder.headers)
    assert moved.status_code == 200, moved.get_data(as_text=True)
    assert _decrypts(app, readers[target], report.id)
    with Session(_engine(app)) as db:
        queued = {(q.recipient_id, q.kind) for q in db.scalars(select(QueuedNotification))}
    assert (readers[gained].id, "new-report") in queued and (readers[target].id, "new-report") in queued


def test_a_body_without_a_key_is_never_the_only_reader_and_the_source_and_operators_are_told(app: Flask) -> None:
    # Only the Ombudsman can read: the Agency, competent for procurement, has nobody.
    ombudsman = add_test_recipient(app, "example-ombudsman")
    page = review_route(app.test_client(), subject="public-procurement").get_data(as_text=True)
    assert "These cannot read reports on this instance yet" in page and "Anti-Corruption Agency" in page
    report = _submit(app, subject="public-procurement")
    assert _route(app, report.id) == ["example-ombudsman"]
    assert _decrypts(app, ombudsman, report.id)
    with Session(_engine(app)) as db:
        stored = db.get(Report, report.id)
        assert stored is not None
        assert ("example-aca", "no-key") in {(b.body_id, b.role) for b in stored.bodies}


def test_when_every_last_resort_is_in_conflict_the_first_independent_body_of_the_chain_takes_it(app: Flask) -> None:
    import dataclasses

    from parrhesia.domain.routing import RoutingRequest, decide

    host = app.extensions["parrhesia.domain.host"]
    config = dataclasses.replace(host.config, last_resort=("example-ombudsman",))  # appointed by parliament
    decision = decide(host.manager, host.directory, config, RoutingRequest(implicated="example-parliament"))
    conflicts = host.directory.conflicts_of("example-parliament")
    assert len(decision.route) == 1 and decision.route[0] not in conflicts
    assert "first independent body of the escalation chain" in decision.substitute_reason
    assert decision.route[0] not in {s.body_id for s in decision.escalation}
    # Knowing who can read: a chain body nobody there can read for is passed over too.
    readable = {"example-ngo"}
    decision = decide(host.manager, host.directory, config, RoutingRequest(implicated="example-parliament"), readable)
    assert decision.route == ("example-ngo",)


def test_recipients_add_takes_any_body_of_the_directory_and_suggests_close_matches(app: Flask, tmp_path: Any) -> None:
    instance_dir = str(app.extensions["parrhesia.instance"].config.path)
    from parrhesia.crypto import encode_public_key, generate_recipient_key

    key = encode_public_key(bytes(generate_recipient_key().public_key))
    runner = CliRunner()
    added = runner.invoke(main, ["recipients", "add", "--instance", instance_dir, "--body", "example-prosecutor",
                                 "--name", "Prosecutor", "--public-key", key])
    assert added.exit_code == 0 and "added to example-prosecutor" in added.output  # a plugin's body
    wrong = runner.invoke(main, ["recipients", "add", "--instance", instance_dir, "--body", "example-prosecuter",
                                 "--name", "Prosecutor", "--public-key", key])
    assert wrong.exit_code != 0 and "Did you mean: example-prosecutor" in wrong.output


def test_a_rotation_based_on_a_stale_generation_is_refused_and_the_chain_stays_whole(app: Flask) -> None:
    from parrhesia.crypto import chain_previous_body_key, grant_body_key, new_body_key
    from parrhesia.domain import custody
    today = date.today

    first = add_test_recipient(app, "example-aca", "First")
    body_sk = app.extensions["parrhesia.testing.body_keys"]["example-aca"][0]
    with Session(_engine(app)) as db:
        member = db.get(Recipient, first.id)
        assert member is not None
        for attempt in range(2):  # two members both read generation 1 and rotate
            new_sk = new_body_key()
            args = (db, member, bytes(new_sk.public_key), chain_previous_body_key(body_sk, bytes(new_sk.public_key)),
                    {first.id: grant_body_key(new_sk, bytes(first.key.public_key), first.key)})
            if attempt == 0:
                custody.rotate_body_key(*args, on=today(), replaces=1)
            else:
                with pytest.raises(custody.CustodyError, match="changed"):
                    custody.rotate_body_key(*args, on=today(), replaces=1)
    assert sorted(first.keyring(app.test_client()).keys) == [1, 2]
