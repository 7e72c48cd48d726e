"""Storage: migrations applied by init and checked at start-up; atomic blobs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import text

from parrhesia.blobs import BlobNameError, BlobStore
from parrhesia.config import ConfigError
from parrhesia.crypto import CODENAME_KDF_LATEST, CODENAME_KDF_V1, CODENAME_KDF_V2
from parrhesia.db import make_engine
from parrhesia.instance import init_instance, open_instance
from parrhesia.migrate import SchemaError, check_schema, current_revision, head_revision, upgrade


def test_init_applies_migrations_to_the_head(instance_dir: Path, database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) == head_revision()
    check_schema(engine)
    upgrade(engine)  # idempotent
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_start_up_refuses_a_database_without_the_schema(tmp_path: Path, database_url: str) -> None:
    from parrhesia.app import create_app

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
    pending = store.create("abcdefgh12345678")
    pending.file.write(b"half")
    pending.file.close()  # the process dies here
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
    from parrhesia.migrate import HEAD

    assert head_revision() == HEAD


def test_a_web_app_does_not_load_alembic(tmp_path: Path) -> None:
    import subprocess
    import sys

    init_instance(tmp_path / "lean").dispose()
    code = (
        "import sys; from parrhesia.app import create_app; create_app(sys.argv[1]); "
        "print(sorted(m for m in ('alembic', 'segno', 'rich', 'parrhesia.cli', 'parrhesia.statistics') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "lean")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_a_new_instance_records_the_latest_codename_derivation(instance_dir: Path) -> None:
    assert (instance_dir / "secrets" / "codename_kdf").read_text() == f"{CODENAME_KDF_LATEST.version}\n"
    instance = open_instance(instance_dir)
    assert instance.codename_kdf == CODENAME_KDF_LATEST == CODENAME_KDF_V2
    instance.dispose()


def test_an_instance_created_before_version_2_keeps_version_1(instance_dir: Path) -> None:
    # Its secrets folder has a pepper and no codename_kdf file; init (after an upgrade)
    # must not add one, or every existing source would be locked out.
    (instance_dir / "secrets" / "codename_kdf").unlink()
    init_instance(instance_dir).dispose()
    assert not (instance_dir / "secrets" / "codename_kdf").exists()
    instance = open_instance(instance_dir)
    assert instance.codename_kdf == CODENAME_KDF_V1
    instance.dispose()


@pytest.mark.parametrize("content", ["7\n", "two\n", ""])
def test_an_unknown_codename_derivation_stops_start_up(instance_dir: Path, content: str) -> None:
    (instance_dir / "secrets" / "codename_kdf").write_text(content)
    with pytest.raises(ConfigError, match="codename_kdf"):
        open_instance(instance_dir)
