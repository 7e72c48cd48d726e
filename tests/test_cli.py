"""The command line: init, keys, recipients, demo set-up."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from nacl.pwhash import argon2id

from parrhesia.cli import main
from parrhesia.crypto import decode_public_key, fingerprint, unwrap_private_key


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture(autouse=True)
def _fast_key_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key files use Argon2id at its moderate cost; tests use the interactive one."""
    import importlib

    from parrhesia.crypto import wrap_private_key

    # The module, not the `keys` click group that parrhesia.cli exports under that name.
    keys_module = importlib.import_module("parrhesia.cli.keys")

    def fast(sk, passphrase, **_):  # type: ignore[no-untyped-def]
        return wrap_private_key(sk, passphrase, opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN)

    monkeypatch.setattr(keys_module, "wrap_private_key", fast)


def test_init_creates_an_instance_and_is_idempotent(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["init", "--instance", str(tmp_path / "inst")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "inst" / "parrhesia.toml").is_file()
    assert (tmp_path / "inst" / "parrhesia.db").is_file()
    again = runner.invoke(main, ["init", "--instance", str(tmp_path / "inst")])
    assert again.exit_code == 0


def test_keys_generate_prints_public_key_and_fingerprint(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "pass").write_text("correct horse\n")
    out = tmp_path / "me.key"
    result = runner.invoke(main, ["keys", "generate", "--out", str(out), "--passphrase-file", str(tmp_path / "pass")])
    assert result.exit_code == 0, result.output
    assert out.stat().st_mode & 0o777 == 0o600
    key = unwrap_private_key(out.read_bytes(), b"correct horse")
    public = bytes(key.public_key)
    assert fingerprint(public) in result.output
    line = next(line for line in result.output.splitlines() if line.startswith("Public key:"))
    assert decode_public_key(line.split()[-1]) == public
    refused = runner.invoke(main, ["keys", "generate", "--out", str(out), "--passphrase-file", str(tmp_path / "pass")])
    assert refused.exit_code != 0 and "already exists" in refused.output


def test_keys_generate_prompts_for_the_passphrase_twice(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "me.key"
    result = runner.invoke(main, ["keys", "generate", "--out", str(out)], input="s3cret\ns3cret\n")
    assert result.exit_code == 0, result.output
    assert unwrap_private_key(out.read_bytes(), b"s3cret")


def test_recipients_add_prints_a_working_token(runner: CliRunner, instance_dir: Path, tmp_path: Path) -> None:
    from parrhesia.web.app import create_app

    (tmp_path / "pass").write_text("pw\n")
    runner.invoke(main, ["keys", "generate", "--out", str(tmp_path / "k"), "--passphrase-file", str(tmp_path / "pass")])
    result = runner.invoke(
        main,
        ["recipients", "add", "--instance", str(instance_dir), "--body", "ombudsman", "--name", "Ana",
         "--public-key-file", str(tmp_path / "k")],
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    app = create_app(instance_dir, {"TESTING": True})
    me = app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json["body"]["id"] == "ombudsman"
    listing = runner.invoke(main, ["recipients", "list", "--instance", str(instance_dir)])
    assert "Ana" in listing.output
    app.extensions["parrhesia.instance"].dispose()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--body", "nobody", "--name", "x", "--public-key", "prh1pk_x"], "No body 'nobody'"),
        (["--body", "ombudsman", "--name", "x", "--public-key", "not-a-key"], ""),
        (["--body", "ombudsman", "--name", "x"], "exactly one of"),
    ],
)
def test_recipients_add_refuses_bad_input_clearly(runner: CliRunner, instance_dir: Path, args: list[str], message: str) -> None:
    result = runner.invoke(main, ["recipients", "add", "--instance", str(instance_dir), *args])
    assert result.exit_code == 1
    assert "Error:" in result.output and message in result.output
    assert "Traceback" not in result.output


def test_commands_on_a_missing_instance_fail_clearly(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(main, ["recipients", "list", "--instance", str(tmp_path / "none")])
    assert result.exit_code == 1 and "parrhesia init" in result.output


def test_demo_instance_has_recipient_key_passphrase_and_token(tmp_path: Path) -> None:
    from parrhesia.ops.demo import DEMO_RECIPIENT_BODY, demo_recipient_key, ensure_demo_instance
    from parrhesia.web.app import create_app

    instance, demo = ensure_demo_instance(tmp_path / "demo")
    instance.dispose()
    files = demo[DEMO_RECIPIENT_BODY]
    assert files.key.parent == tmp_path / "demo" / "demo" / DEMO_RECIPIENT_BODY
    passphrase = files.passphrase.read_text().splitlines()[0].encode()
    assert unwrap_private_key(files.key.read_bytes(), passphrase).encode() == demo_recipient_key().encode()
    token = files.token.read_text().strip()
    app = create_app(tmp_path / "demo", {"TESTING": True})
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    app.extensions["parrhesia.instance"].dispose()
    # A second run keeps the same files and token.
    instance, again = ensure_demo_instance(tmp_path / "demo")
    instance.dispose()
    assert again[DEMO_RECIPIENT_BODY].token.read_text().strip() == token


def test_demo_instance_runs_the_republic_of_example(tmp_path: Path) -> None:
    from parrhesia.ops.demo import DEMO_PLUGINS, ensure_demo_instance
    from parrhesia.testing import review_route
    from parrhesia.web.app import create_app

    instance, demo = ensure_demo_instance(tmp_path / "demo")
    instance.dispose()
    assert instance.config.plugins == tuple(DEMO_PLUGINS)
    assert all(len(files.desk_password.read_text().strip()) >= 12 for files in demo.values())
    app = create_app(tmp_path / "demo", {"TESTING": True})
    page = review_route(app.test_client(), implicated="example-interior").get_data(as_text=True)
    readers = page.split("These may receive it on escalation")[0]
    assert "Anti-Corruption Agency" in readers and "Ministry of the Interior" not in readers.split("<main>")[1]
    app.extensions["parrhesia.instance"].dispose()


def test_recipients_deactivate_revokes_and_is_audited_as_from_the_desk(app: object, instance_dir: Path) -> None:
    from flask import Flask
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from parrhesia.storage.models import AuditEntry, Recipient
    from parrhesia.testing import add_test_recipient

    assert isinstance(app, Flask)
    officer = add_test_recipient(app, "integrity-office", "Leaving officer")
    done = CliRunner().invoke(main, ["recipients", "deactivate", "--instance", str(instance_dir), "--id", str(officer.id)])
    assert done.exit_code == 0 and "rotate its key" in done.output
    assert app.test_client().get("/api/v1/me", headers=officer.headers).status_code == 401
    with Session(app.extensions["parrhesia.instance"].engine) as db:
        assert db.get(Recipient, officer.id).active is False  # type: ignore[union-attr]
        entries = [(e.action, e.actor) for e in db.scalars(select(AuditEntry))]
    assert ("body.recipient.deactivate", "cli") in entries
