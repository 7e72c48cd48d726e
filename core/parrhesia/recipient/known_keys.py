"""The keys a recipient's machine trusts: fingerprints confirmed out of band, per server.

The command-line desk seals to keys the server lists — a colleague's when vouching, a
body's when transferring — and opens the body key it first pinned. A server that listed
a key of its own would receive what is sealed to it, so each listed key is checked here
first: a key never seen is used only once its fingerprint has been compared with its
holder and trusted, and a key that differs from the one trusted before is refused.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from parrhesia.crypto import decode_public_key, fingerprint
from parrhesia.crypto.manifest import ManifestError, VerifiedManifest, read_manifest
from parrhesia.private_files import replace_private_json

__all__ = ["DeskError", "KeyState", "ListedKey", "KnownKeys", "default_known_keys_path", "require_listed"]


class DeskError(Exception):
    """A problem talking to the server, or with what it sent, explained in one sentence."""


_MANIFEST_KEY = "manifest-key"  # the fingerprint of the manifest key trusted for a server


def require_listed(manifest: VerifiedManifest | None, body_id: str, public_key: bytes) -> None:
    """DeskError unless the manifest (if the server serves one) lists this key for the body."""
    if manifest is not None and not manifest.facts.vouches_for(body_id, public_key):
        raise DeskError(
            f"The key the server lists for body {body_id} ({fingerprint(public_key)}) is not the one its signed key "
            f"manifest of {manifest.facts.issued} lists. Nothing was sealed or sent; tell the instance's operators."
        )


def read_servers_file(path: Path, version: int, what: str) -> dict[str, Any] | None:
    """The ``servers`` of a desk's JSON file of ``version`` (None if there is no file);
    DeskError, naming ``what`` it holds, if it cannot be read or is of another version."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise DeskError(f"Cannot read {what} in {path}: {exc}") from None
    servers = data.get("servers") if isinstance(data, dict) and data.get("version") == version else None
    if not isinstance(servers, dict):
        raise DeskError(f"{path} is not a file of {what} this version of Parrhesia understands.")
    return servers


def default_known_keys_path() -> Path:
    """``$XDG_CONFIG_HOME/parrhesia/known-keys.json`` (``~/.config`` by default)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "parrhesia" / "known-keys.json"


class KeyState(StrEnum):
    """What this machine knows of a key the server lists for a recipient."""

    NEW = "new"  # no key of this recipient has been trusted here
    TRUSTED = "trusted"  # the key trusted here before
    CHANGED = "CHANGED"  # another key than the one trusted here before


@dataclass(frozen=True)
class ListedKey:
    """A recipient's public key as the server lists it, and what this machine knows of it."""

    recipient_id: int
    name: str
    public_key: bytes
    fingerprint: str
    trusted: str | None  # the fingerprint trusted before for this recipient, if any

    @property
    def state(self) -> KeyState:
        if self.trusted is None:
            return KeyState.NEW
        return KeyState.TRUSTED if self.trusted == self.fingerprint else KeyState.CHANGED


def _plain(fingerprint_text: str) -> str:
    """A fingerprint as typed (any spacing, any case) in the form it is compared in."""
    return "".join(fingerprint_text.split()).upper()


class KnownKeys:
    """The recipients' key fingerprints this machine trusts, per server, kept in a JSON file.

    Trust is given explicitly, one fingerprint at a time, after its holder has
    confirmed it over another channel (``--trust FINGERPRINT``). Once trusted, a
    recipient's key may not change without its new fingerprint being trusted in the
    same way.
    """

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._servers: dict[str, dict[str, str]] = {}
        servers = read_servers_file(path, self.VERSION, "trusted keys")
        if servers is None:
            return
        if not all(
            isinstance(keys, dict) and all(isinstance(v, str) for v in keys.values()) for keys in servers.values()
        ):
            raise DeskError(f"{path} is not a file of trusted keys this version of Parrhesia understands.")
        self._servers = servers

    def listed(self, server: str, recipients: list[dict[str, Any]]) -> list[ListedKey]:
        """The server's list of recipients, each with its fingerprint and what is trusted."""
        pinned = self._servers.get(server, {})
        listed: list[ListedKey] = []
        for recipient in recipients:
            recipient_id = recipient.get("id")
            if type(recipient_id) is not int or any(key.recipient_id == recipient_id for key in listed):
                raise DeskError(f"The server listed a recipient with a missing or repeated id ({recipient_id!r}).")
            public_key = decode_public_key(recipient["public_key"])
            listed.append(ListedKey(recipient_id, str(recipient.get("name", "")), public_key,
                                    fingerprint(public_key), pinned.get(str(recipient_id))))
        return listed

    def check(self, server: str, recipients: list[dict[str, Any]], trust: Iterable[str] = ()) -> list[ListedKey]:
        """The listed keys, if every one may be sealed to; DeskError, trusting nothing, otherwise.

        A key not trusted before (new, or changed) is accepted only if its fingerprint
        is among ``trust``; those are then trusted and saved.
        """
        listed = self.listed(server, recipients)
        confirmed = {_plain(text) for text in trust}
        unconfirmed = [k for k in listed if k.state != KeyState.TRUSTED and _plain(k.fingerprint) not in confirmed]
        changed = [key for key in unconfirmed if key.state == KeyState.CHANGED]
        if changed:
            raise DeskError(
                "The server lists a different key for "
                + "; ".join(f"recipient {k.recipient_id} ({k.name}): {k.fingerprint}, trusted before: {k.trusted}"
                            for k in changed)
                + ". Nothing was sealed or sent. If that person really has a new key, confirm its fingerprint "
                "with them over another channel, then trust it with --trust FINGERPRINT."
            )
        if unconfirmed:
            raise DeskError(
                "These keys are new to this machine: "
                + "; ".join(f"recipient {k.recipient_id} ({k.name}): {k.fingerprint}" for k in unconfirmed)
                + ". Nothing was sealed or sent. Confirm each fingerprint with its holder over another "
                "channel, then repeat with --trust FINGERPRINT for each (or use `parrhesia desk keys --trust`)."
            )
        self.trust(server, [key for key in listed if key.state != KeyState.TRUSTED])
        return listed

    def trust_fingerprints(self, server: str, recipients: list[dict[str, Any]], trust: Iterable[str]) -> list[ListedKey]:
        """Trust the listed keys with these fingerprints; DeskError, trusting nothing, if one is not listed."""
        listed = self.listed(server, recipients)
        wanted = {_plain(text) for text in trust}
        chosen = [key for key in listed if _plain(key.fingerprint) in wanted]
        unmatched = wanted - {_plain(key.fingerprint) for key in chosen}
        if unmatched:
            raise DeskError(f"No listed recipient has the key with fingerprint {', '.join(sorted(unmatched))}; "
                            "nothing was trusted.")
        self.trust(server, chosen)
        return chosen

    def trust(self, server: str, keys: list[ListedKey]) -> None:
        """Trust these keys (replacing what was trusted for their recipients) and save."""
        if not keys:
            return
        pinned = self._servers.setdefault(server, {})
        for key in keys:
            pinned[str(key.recipient_id)] = key.fingerprint
        self._save()

    def check_body_key(self, server: str, body_id: str, body_fingerprint: str, trust: Iterable[str] = ()) -> None:
        """A body's key (sealed to in a transfer), if trusted or confirmed in ``trust``
        now; DeskError, trusting nothing, otherwise."""
        pinned = self._servers.get(server, {}).get(f"body:{body_id}")
        if pinned == body_fingerprint:
            return
        if _plain(body_fingerprint) not in {_plain(text) for text in trust}:
            what = f"differs from the one trusted before ({pinned})" if pinned else "is new to this machine"
            raise DeskError(
                f"The key of body {body_id} ({body_fingerprint}) {what}. Nothing was sealed or sent. Confirm the "
                "fingerprint with that body over another channel, then repeat with --trust FINGERPRINT."
            )
        self.pin_body_key(server, body_id, body_fingerprint)

    def check_manifest(self, server: str, data: bytes | None, trust: Iterable[str] = ()) -> VerifiedManifest | None:
        """The server's signed key manifest (None if it serves none), once its manifest
        key is trusted here; DeskError, trusting nothing, if it does not verify or its
        key is new (and not confirmed in ``trust``) or differs from the one trusted."""
        if data is None:
            return None
        try:
            manifest = read_manifest(data)
        except ManifestError as problem:
            raise DeskError(f"The instance's key manifest does not verify ({problem}). Nothing was sealed or sent; "
                            "tell its operators.") from None
        pinned = self._servers.get(server, {}).get(_MANIFEST_KEY)
        if pinned == manifest.manifest_fingerprint:
            return manifest
        if _plain(manifest.manifest_fingerprint) not in {_plain(text) for text in trust}:
            what = f"differs from the one trusted before ({pinned})" if pinned else "is new to this machine"
            raise DeskError(
                f"The instance's key manifest is signed by the manifest key {manifest.manifest_fingerprint}, which "
                f"{what}. Nothing was sealed or sent. Compare it with the fingerprint the instance's operators "
                "publish, then repeat with --trust FINGERPRINT."
            )
        self._servers.setdefault(server, {})[_MANIFEST_KEY] = manifest.manifest_fingerprint
        self._save()
        return manifest

    def pinned_body_key(self, server: str, body_id: str) -> str | None:
        return self._servers.get(server, {}).get(f"body:{body_id}")

    def pin_body_key(self, server: str, body_id: str, body_fingerprint: str) -> None:
        self._servers.setdefault(server, {})[f"body:{body_id}"] = body_fingerprint
        self._save()

    def _save(self) -> None:
        """Write the file whole (mode 0600) through a fresh temporary file, then rename it."""
        try:
            replace_private_json(self.path, {"version": self.VERSION, "servers": self._servers})
        except OSError as exc:
            raise DeskError(f"Cannot save the trusted keys in {self.path}: {exc}") from None
