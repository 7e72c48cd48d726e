"""Storage: migrations applied by init and checked at start-up; atomic blobs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session

from parrhesia.config import ConfigError
from parrhesia.crypto import CODENAME_KDF_LATEST, CODENAME_KDF_V1, CODENAME_KDF_V2
from parrhesia.instance import init_instance, open_instance
from parrhesia.storage.blobs import BlobNameError, BlobStore
from parrhesia.storage.db import make_engine
from parrhesia.storage.migrate import SchemaError, check_schema, current_revision, head_revision, upgrade
from parrhesia.storage.models import InstanceFact
from parrhesia.web.app import create_app


def test_init_applies_migrations_to_the_head(instance_dir: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    check_schema(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_start_up_refuses_a_database_without_the_schema(tmp_path: Path, database_url: str) -> None:
    from parrhesia.web.app import create_app

    instance = init_instance(tmp_path / "inst", database_url=database_url)
    with instance.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
    instance.dispose()
    with pytest.raises(SchemaError, match="parrhesia init"):
        create_app(tmp_path / "inst")


def test_sqlite_runs_in_wal_mode(tmp_path: Path) -> None:
    init_instance(tmp_path / "laptop").dispose()  # the default database: SQLite in the folder
    instance = open_instance(tmp_path / "laptop")
    assert instance.config.database_url.startswith("sqlite:///")
    with instance.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
    instance.dispose()


def test_secrets_are_private_to_the_owner(instance_dir: Path) -> None:
    for name in ("secret_key", "pepper", "codename_kdf"):
        mode = (instance_dir / "secrets" / name).stat().st_mode & 0o777
        assert mode == 0o600


def test_blob_is_invisible_until_committed(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    pending = store.create("abcdefgh12345678")
    pending.file.write(b"ciphertext")
    assert not store.path_for("abcdefgh12345678").exists()
    pending.commit()
    assert store.path_for("abcdefgh12345678").read_bytes() == b"ciphertext"
    assert list(store.tmp_dir.iterdir()) == []


def test_failed_write_leaves_nothing(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    with pytest.raises(RuntimeError):
        with store.writing("abcdefgh12345678") as pending:
            pending.file.write(b"half")
            raise RuntimeError("crash")
    assert not store.path_for("abcdefgh12345678").exists()
    assert list(store.tmp_dir.iterdir()) == []


def test_temporaries_left_by_a_crash_are_removed_at_start_up(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    code = ("import os, sys; from pathlib import Path; from parrhesia.storage.blobs import BlobStore; "
            "p = BlobStore(Path(sys.argv[1])).create('abcdefgh12345678'); p.file.write(b'half'); p.file.flush(); "
            "os._exit(9)")  # the process dies mid-write
    subprocess.run([sys.executable, "-c", code, str(store.root)], check=False)  # noqa: S603
    assert len(list(store.tmp_dir.iterdir())) == 1
    assert BlobStore(tmp_path / "blobs").remove_stale_temporaries() == 1
    assert list(store.tmp_dir.iterdir()) == []


@pytest.mark.parametrize("name", ["../etc/passwd", "a/b", "", "short", "x" * 65, "name with space"])
def test_blob_names_cannot_escape_the_store(tmp_path: Path, name: str) -> None:
    with pytest.raises(BlobNameError):
        BlobStore(tmp_path / "blobs").path_for(name)


def test_committed_blob_survives_in_place_and_is_fsynced(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    store = BlobStore(tmp_path / "blobs")
    with store.writing("abcdefgh12345678") as pending:
        pending.file.write(b"data")
    assert len(synced) >= 2  # the file, then its directory


def test_the_head_constant_is_the_newest_migration() -> None:
    from parrhesia.storage.migrate import HEAD

    assert head_revision() == HEAD


def test_a_web_app_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    init_instance(tmp_path / "lean").dispose()
    code = (
        "import sys; from parrhesia.web.app import create_app; create_app(sys.argv[1]); "
        "print(sorted(m for m in ('alembic', 'segno', 'rich', 'parrhesia.cli', 'parrhesia.domain.statistics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lean")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_new_instance_records_the_latest_codename_derivation(instance_dir: Path) -> None:
    assert (instance_dir / "secrets" / "codename_kdf").read_text() == f"{CODENAME_KDF_LATEST.version}\n"
    instance = open_instance(instance_dir)
    assert instance.codename_kdf == CODENAME_KDF_LATEST == CODENAME_KDF_V2
    instance.dispose()


def _forget_facts(instance_dir: Path) -> None:
    """Make the database look as it did before it recorded its facts (before 0009)."""
    instance = open_instance(instance_dir)
    with Session(instance.engine) as db:
        db.execute(delete(InstanceFact))
        db.commit()
    instance.dispose()


def test_an_instance_created_before_version_2_keeps_version_1(instance_dir: Path) -> None:
    # Its secrets folder has a pepper and no codename_kdf file; init (after an upgrade)
    # must not add one, or every existing source would be locked out.
    _forget_facts(instance_dir)
    (instance_dir / "secrets" / "codename_kdf").unlink()
    init_instance(instance_dir).dispose()
    assert not (instance_dir / "secrets" / "codename_kdf").exists()
    instance = open_instance(instance_dir)
    assert instance.codename_kdf == CODENAME_KDF_V1
    with Session(instance.engine) as db:
        assert db.get(InstanceFact, "codename_kdf").value == "1"  # recorded by the upgrade
    instance.dispose()


def test_the_database_records_what_the_secrets_must_match(instance_dir: Path) -> None:
    instance = open_instance(instance_dir)
    with Session(instance.engine) as db:
        facts = {fact.name: fact.value for fact in db.scalars(select(InstanceFact))}
    instance.dispose()
    assert facts["codename_kdf"] == "2"
    pepper = (instance_dir / "secrets" / "pepper").read_bytes()
    assert len(facts["pepper_check"]) == 32 and pepper.hex() not in facts["pepper_check"]


def test_a_lost_pepper_stops_start_up_and_init_does_not_paper_over_it(instance_dir: Path) -> None:
    (instance_dir / "secrets" / "pepper").unlink()
    with pytest.raises(ConfigError, match="pepper is missing"):
        open_instance(instance_dir)
    # init makes a new pepper for a new instance, but this database knows the old one.
    with pytest.raises(ConfigError, match="pepper is not the one this instance's database was created with"):
        init_instance(instance_dir)
    with pytest.raises(ConfigError, match="restore it from the backup"):
        create_app(instance_dir)


def test_a_pepper_from_another_instance_stops_start_up(instance_dir: Path, tmp_path: Path) -> None:
    other = init_instance(tmp_path / "other")
    other.dispose()
    (instance_dir / "secrets" / "pepper").write_bytes((tmp_path / "other" / "secrets" / "pepper").read_bytes())
    with pytest.raises(ConfigError, match="pepper is not the one"):
        open_instance(instance_dir)


def test_a_lost_codename_kdf_file_stops_start_up(instance_dir: Path) -> None:
    # Without the file the instance would read as version 1 and lock out every source.
    (instance_dir / "secrets" / "codename_kdf").unlink()
    with pytest.raises(ConfigError, match="codename_kdf is not the one"):
        open_instance(instance_dir)


@pytest.mark.parametrize("content", ["7\n", "two\n", ""])
def test_an_unknown_codename_derivation_stops_start_up(instance_dir: Path, content: str) -> None:
    (instance_dir / "secrets" / "codename_kdf").write_text(content)
    with pytest.raises(ConfigError, match="codename_kdf"):
        open_instance(instance_dir)
