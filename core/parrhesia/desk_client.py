"""The recipient's side of the API: pulling, decrypting and replying on their machine.

Nothing here runs on the server. The report key arrives sealed to the recipient's
public key and is opened here with the private key, which never leaves this machine.
"""

from __future__ import annotations

import base64
import json
import secrets
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nacl.public import PrivateKey

from parrhesia.crypto import decode_public_key, decrypt_part_to_path, encrypt_bytes, open_report_key

__all__ = ["DeskError", "DeskClient", "PullResult", "pull", "reply"]

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
        self.base = server.rstrip("/") + "/api/v1"
        self.token = token.strip()

    def _open(self, path: str, *, method: str = "GET", data: bytes | None = None) -> Any:
        request = urllib.request.Request(self.base + path, data=data, method=method)  # noqa: S310
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/octet-stream")
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

    def reports(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._json("/reports")["reports"]
        return data

    def report(self, report_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._json(f"/reports/{urllib.parse.quote(report_id)}")
        return data

    def open_part(self, report_id: str, part_id: str) -> BinaryIO:
        stream: BinaryIO = self._open(f"/reports/{urllib.parse.quote(report_id)}/parts/{urllib.parse.quote(part_id)}")
        return stream

    def put_reply(self, report_id: str, part_id: str, blob: bytes) -> dict[str, Any]:
        with self._open(f"/reports/{urllib.parse.quote(report_id)}/replies/{part_id}", method="PUT", data=blob) as response:
            data: dict[str, Any] = json.load(response)
            return data


def _explain(error: urllib.error.HTTPError) -> str:
    try:
        message = json.loads(error.read()).get("message", "")
    except (ValueError, OSError):
        message = ""
    return f"The server answered {error.code}: {message or error.reason}"


@dataclass
class PullResult:
    reports: int = 0
    files: list[Path] = field(default_factory=list)
    unreadable: list[str] = field(default_factory=list)


ProgressFactory = Callable[[str, int], Callable[[int], None]]


def pull(client: DeskClient, key: PrivateKey, out: Path, *, progress: ProgressFactory | None = None) -> PullResult:
    """Download and decrypt every new part of every report into ``out/<report id>/``."""
    result = PullResult()
    out.mkdir(parents=True, exist_ok=True)
    for report in client.reports():
        result.reports += 1
        folder = out / _safe_id(report["id"])
        folder.mkdir(exist_ok=True)
        if not report.get("sealed_key"):
            result.unreadable.append(report["id"])
            continue
        report_key = open_report_key(base64.b64decode(report["sealed_key"]), key)
        manifest = _read_manifest(folder)
        for number, part in enumerate(report["parts"], start=1):
            if part["id"] in manifest:
                continue
            name = None if part["kind"] == "attachment" else f"{number:03d}-{part['kind']}{_SUFFIX.get(part['kind'], '.txt')}"
            on_bytes = progress(f"{report['id'][:8]} {part['kind']}", int(part["size"])) if progress else None
            with client.open_part(report["id"], part["id"]) as stream:
                source = _Counting(stream, on_bytes) if on_bytes else stream
                written = decrypt_part_to_path(source, folder, report_key, report["id"], part["id"], filename=name)
            manifest[part["id"]] = written.name
            _write_manifest(folder, manifest)
            result.files.append(written)
    return result


def reply(client: DeskClient, report_id: str, message: str) -> dict[str, Any]:
    """Seal a reply on this machine and send it; the source reads it after logging in."""
    report = client.report(report_id)
    part_id = secrets.token_hex(16)
    blob = encrypt_bytes(
        message.encode("utf-8"), decode_public_key(report["public_key"]), report["id"], part_id, {"kind": "reply"}
    )
    return client.put_reply(report["id"], part_id, blob)


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
