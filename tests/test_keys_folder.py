"""keys/ holds public key material only, and the demo's public key is the one it uses."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from parrhesia.crypto import encode_public_key, fingerprint, looks_like_private_key_file
from parrhesia.ops.demo import demo_recipient_key

KEYS = Path(__file__).resolve().parents[1] / "keys"
# Words that only a private key file (or a pasted excerpt of one) would contain.
PRIVATE_MARKERS = ("wrapped", "private")


def key_files() -> list[Path]:
    return sorted(p for p in KEYS.rglob("*") if p.is_file() and p.name != "README.md")


def test_keys_folder_has_a_readme_and_key_files() -> None:
    assert (KEYS / "README.md").is_file()
    assert key_files(), "keys/ should hold at least the demo's public key"


@pytest.mark.parametrize("path", key_files(), ids=lambda p: str(p.relative_to(KEYS)))
def test_no_private_key_in_keys_folder(path: Path) -> None:
    data = path.read_bytes()
    assert not looks_like_private_key_file(data), f"{path} looks like a private key"
    lowered = data.lower()
    for marker in PRIVATE_MARKERS:
        assert marker.encode() not in lowered, f"{path} mentions {marker!r}: is it a private key?"


def test_readme_is_not_a_key() -> None:
    assert not looks_like_private_key_file((KEYS / "README.md").read_bytes())


def test_demo_public_key_matches_the_demo_recipient() -> None:
    document = tomllib.loads((KEYS / "demo" / "example-aca.pub").read_text(encoding="utf-8"))
    public = bytes(demo_recipient_key().public_key)
    assert document == {"public_key": encode_public_key(public), "fingerprint": fingerprint(public)}
