"""The recipient's side of the API: pulling, decrypting and acting on their machine.

Nothing here runs on the server. The report key arrives sealed to the recipient's
public key and is opened here with the private key, which never leaves this machine.
Replies, internal notes and the report key handed on in a transfer are sealed here
too, so the server only ever stores ciphertext and sealed keys.

Notes and transfers are sealed to public keys that the server lists. A server that
lied about them would receive what is sealed, so each key is checked against the
fingerprints this machine has trusted (:class:`KnownKeys`): a key never seen is used
only once its fingerprint has been compared with its holder and trusted, and a key
that differs from the one trusted before is refused.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any, BinaryIO

from nacl.public import PrivateKey

from parrhesia.crypto import (
    decode_public_key,
    decrypt_part_to_path,
    encrypt_bytes,
    fingerprint,
    new_report_keypair,
    open_report_key,
    seal_report_key,
)

__all__ = [
    "DeskError", "DeskClient", "KeyState", "KnownKeys", "ListedKey", "PullResult", "default_known_keys_path",
    "pull", "reply", "note", "transfer",
]

MANIFEST = ".parrhesia-pulled.json"
_SUFFIX = {"answers": ".json"}  # answers to content questions are a JSON object
_TIMEOUT = 60


class DeskError(Exception):
    """A problem talking to the server, explained in one sentence."""


class DeskClient:
    """A thin JSON/ciphertext client for ``/api/v1`` with a bearer token."""

    def __init__(self, server: str, token: str) -> None:
        parsed = urllib.parse.urlsplit(server)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise DeskError(f"The server address must start with http:// or https://, not {server!r}.")
        self.server = urllib.parse.urlunsplit((parsed.scheme, parsed.netloc.lower(), parsed.path.rstrip("/"), "", ""))
        self.base = server.rstrip("/") + "/api/v1"
        self.token = token.strip()

    def _open(
        self, path: str, *, method: str = "GET", data: bytes | None = None, content_type: str = "application/octet-stream"
    ) -> Any:
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", content_type)
        try:
            # B310 is a false positive: the scheme was checked to be http(s) in __init__.
            return urllib.request.urlopen(request, timeout=_TIMEOUT)  # nosec B310
        except urllib.error.HTTPError as exc:
            raise DeskError(_explain(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            raise DeskError(f"Cannot reach {self.base}: {getattr(exc, 'reason', exc)}") from None

    def _json(self, path: str) -> Any:
        with self._open(path) as response:
            return json.load(response)

    def _post(self, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps(payload or {}).encode("utf-8")
        with self._open(path, method="POST", data=body, content_type="application/json") as response:
            data: dict[str, Any] = json.load(response)
            return data

    def me(self) -> dict[str, Any]:
        data: dict[str, Any] = self._json("/me")
        return data

    def body_recipients(self, body_id: str) -> list[dict[str, Any]]:
        """The active recipients of a body, with their public keys."""
        data: list[dict[str, Any]] = self._json(f"/bodies/{urllib.parse.quote(body_id, safe='')}/recipients")["recipients"]
        return data

    def reports(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("/reports")["reports"]
        return data

    def report(self, report_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(_report_path(report_id))
        return data

    def open_part(self, report_id: str, part_id: str) -> BinaryIO:
        stream: BinaryIO = self._open(f"{_report_path(report_id)}/parts/{urllib.parse.quote(part_id, safe='')}")
        return stream

    def put_reply(self, report_id: str, part_id: str, blob: bytes, *, feedback: bool = False) -> dict[str, Any]:
        query = "?feedback=1" if feedback else ""
        path = f"{_report_path(report_id)}/replies/{part_id}{query}"
        with self._open(path, method="PUT", data=blob) as response:
            data: dict[str, Any] = json.load(response)
            return data

    def acknowledge(self, report_id: str) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/acknowledge")

    def set_status(self, report_id: str, status: str) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/status", {"status": status})

    def post_note(self, report_id: str, part_id: str, blob: bytes, sealed_keys: dict[int, bytes]) -> dict[str, Any]:
        return self._post(
            f"{_report_path(report_id)}/notes",
            {"id": part_id, "ciphertext": _b64(blob), "sealed_keys": {str(k): _b64(v) for k, v in sealed_keys.items()}},
        )

    def recuse(self, report_id: str, reason: str, *, outside_competence: bool = False) -> dict[str, Any]:
        return self._post(f"{_report_path(report_id)}/recusal", {"reason": reason, "outside_competence": outside_competence})

    def extend_clock(self, report_id: str, clock_id: str, months: int, reason: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/extension", {"months": months, "reason": reason})

    def pause_clock(self, report_id: str, clock_id: str, reason: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/pause", {"reason": reason})

    def resume_clock(self, report_id: str, clock_id: str) -> dict[str, Any]:
        return self._post(f"{_clock_path(report_id, clock_id)}/resume")

    def transfer(self, report_id: str, body_id: str, reason: str, sealed_keys: dict[int, bytes]) -> dict[str, Any]:
        return self._post(
            f"{_report_path(report_id)}/transfer",
            {"body": body_id, "reason": reason, "sealed_keys": {str(k): _b64(v) for k, v in sealed_keys.items()}},
        )


def _report_path(report_id: str) -> str:
    return f"/reports/{urllib.parse.quote(report_id, safe='')}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _explain(error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read()).get("message", "")
    except (ValueError, OSError):
        message = ""
    return f"The server answered {error.code}: {message or error.reason}"


def default_known_keys_path() -> Path:
    """``$XDG_CONFIG_HOME/parrhesia/known-keys.json`` (``~/.config`` by default)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "parrhesia" / "known-keys.json"


class KeyState(str, Enum):
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
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            raise DeskError(f"Cannot read the trusted keys in {path}: {exc}") from None
        servers = data.get("servers") if isinstance(data, dict) and data.get("version") == self.VERSION else None
        if not isinstance(servers, dict) or not all(
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

    def _save(self) -> None:
        """Write the file whole (mode 0600) through a fresh temporary file, then rename it."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            fd, temp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump({"version": self.VERSION, "servers": self._servers}, handle, indent=1, sort_keys=True)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(temp, self.path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise DeskError(f"Cannot save the trusted keys in {self.path}: {exc}") from None


@dataclass
class PullResult:
    reports: int = 0
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)  # report ids not sealed to this key
    unreadable_notes: list[str] = field(default_factory=list)  # note ids written before this recipient joined


ProgressFactory = Callable[[str, int], Callable[[int], None]]


def pull(client: DeskClient, key: PrivateKey, out: Path, *, progress: ProgressFactory | None = None) -> PullResult:
    """Download and decrypt every new part of every report into ``out/<report id>/``.

    Messages, replies and notes become ``NNN-<kind>.txt`` (answers ``.json``);
    attachments keep their (sanitised) names. A note is opened with its own key,
    sealed to each recipient of the body that wrote it.
    """
    result = PullResult()
    out.mkdir(parents=True, exist_ok=True)
    for listed in client.reports():
        result.reports += 1
        folder = out / _safe_id(listed["id"])
        folder.mkdir(exist_ok=True)
        if not listed.get("sealed_key"):
            result.unreadable.append(listed["id"])
            continue
        manifest = _read_manifest(folder)
        if all(part["id"] in manifest for part in listed["parts"]):
            continue
        # Opening the report itself is what the server records as an access (and
        # marks it read in the desk); it also gives the freshest list of parts.
        report = client.report(listed["id"])
        report_key = open_report_key(base64.b64decode(report["sealed_key"]), key)
        for number, part in enumerate(report["parts"], start=1):
            if part["id"] in manifest:
                continue
            part_key = report_key
            if part["kind"] == "note":
                if not part.get("sealed_key"):
                    # Written before this recipient joined the body: it will never be
                    # readable with this key, so it is reported once and remembered.
                    result.unreadable_notes.append(part["id"])
                    manifest[part["id"]] = ""
                    _write_manifest(folder, manifest)
                    continue
                part_key = open_report_key(base64.b64decode(part["sealed_key"]), key)
            name = None if part["kind"] == "attachment" else f"{number:03d}-{part['kind']}{_SUFFIX.get(part['kind'], '.txt')}"
            on_bytes = progress(f"{report['id'][:8]} {part['kind']}", int(part["size"])) if progress else None
            with client.open_part(report["id"], part["id"]) as stream:
                source = _Counting(stream, on_bytes) if on_bytes else stream
                written = decrypt_part_to_path(source, folder, part_key, report["id"], part["id"], filename=name)
            manifest[part["id"]] = written.name
            _write_manifest(folder, manifest)
            result.files.append(written)
    return result


def reply(client: DeskClient, report_id: str, message: str, *, feedback: bool = False) -> dict[str, Any]:
    """Seal a reply on this machine and send it; the source reads it after logging in.

    With ``feedback`` the reply counts as the feedback the law requires (it meets the
    report's feedback clocks).
    """
    report = client.report(report_id)
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(
        message.encode("utf-8"), decode_public_key(report["public_key"]), report["id"], part_id, {"kind": "reply"}
    )
    return client.put_reply(report["id"], part_id, blob, feedback=feedback)


def note(
    client: DeskClient, report_id: str, text: str, *, known: KnownKeys, trust: Iterable[str] = ()
) -> dict[str, Any]:
    """Seal an internal note on this machine, to the recipients of your body only.

    The note gets its own keypair: the text is encrypted to its public key, and its
    private key is sealed to each active recipient of your body (never to the report
    key, which the source holds). No private key of yours is needed for that. The
    colleagues' keys are checked against ``known`` first (see :class:`KnownKeys`);
    ``trust`` holds fingerprints confirmed out of band for keys not yet trusted.
    """
    body_id = client.me()["body"]["id"]
    colleagues = known.check(client.server, client.body_recipients(body_id), trust)
    note_key = new_report_keypair()
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(text.encode("utf-8"), bytes(note_key.public_key), report_id, part_id, {"kind": "note"})
    sealed = {key.recipient_id: seal_report_key(note_key, key.public_key) for key in colleagues}
    return client.post_note(report_id, part_id, blob, sealed)


def transfer(
    client: DeskClient, key: PrivateKey, report_id: str, body_id: str, reason: str, *,
    known: KnownKeys, trust: Iterable[str] = (),
) -> dict[str, Any]:
    """Transfer a report to another body, handing its recipients the report key.

    The report key is opened here with your private key and sealed to each active
    recipient of the target body; the server cannot do this, as it never holds the key.
    Their keys are checked against ``known`` first, as in :func:`note`.
    """
    report = client.report(report_id)
    if not report.get("sealed_key"):
        raise DeskError("This report was never sealed to your key, so you cannot hand its key on; "
                        "ask a colleague who holds it to transfer it.")
    report_key = open_report_key(base64.b64decode(report["sealed_key"]), key)
    if bytes(report_key.public_key) != decode_public_key(report["public_key"]):
        raise DeskError("The key sealed to you does not match this report's public key.")
    holders = known.check(client.server, client.body_recipients(body_id), trust)
    sealed = {holder.recipient_id: seal_report_key(report_key, holder.public_key) for holder in holders}
    return client.transfer(report["id"], body_id, reason, sealed)


class _Counting:
    """A read-only stream that reports how many bytes were read."""

    def __init__(self, stream: BinaryIO, on_bytes: Callable[[int], None]) -> None:
        self.stream = stream
        self.on_bytes = on_bytes

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.on_bytes(len(data))
        return data


def _safe_id(report_id: str) -> str:
    if not report_id.isalnum():
        raise DeskError(f"The server sent an unexpected report id {report_id!r}.")
    return report_id


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_manifest(folder: Path, manifest: dict[str, str]) -> None:
    temp = folder / (MANIFEST + ".tmp")
    temp.write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    temp.replace(folder / MANIFEST)


def _clock_path(report_id: str, clock_id: str) -> str:
    return f"{_report_path(report_id)}/clocks/{urllib.parse.quote(clock_id, safe='')}"
