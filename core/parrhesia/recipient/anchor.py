"""The audit head a recipient's machine remembers, per server, and the check of each new
one against it (docs/format.md §13, "Audit anchors").

The audit log lives in the operator's database. An operator who cut its newest entries,
or rewrote entries and recomputed every hash after them, would leave a chain that is
intact on its own; what exposes them is a head seen before, kept where they cannot
reach it. ``parrhesia desk pull`` and ``desk audit`` ask the server, with the number of
the entry remembered here, for a statement signed by the instance: that entry's hash
now, the head now, and whether the entries between them chain. The rule of the
comparison is :func:`parrhesia.crypto.audit_chain.anchor_verdict`; only a statement that
extends the remembered head replaces it, and every other is kept here as proof.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from parrhesia.crypto.audit_chain import (
    AnchorStatement,
    AnchorVerdict,
    RememberedHead,
    anchor_verdict,
    read_anchor_statement,
)
from parrhesia.crypto.evidence import signature_is_valid
from parrhesia.crypto.receipt import decode_verify_key
from parrhesia.private_files import replace_private_json
from parrhesia.recipient.client import DeskClient
from parrhesia.recipient.known_keys import DeskError, read_servers_file

__all__ = ["AnchorCheck", "AuditHeads", "default_audit_heads_path", "look"]

_KEPT_CONFLICTS = 20  # the newest statements that did not extend the head, kept as proof

_WARNINGS = {
    AnchorVerdict.OTHER_KEY: "The audit head is signed by another instance key ({key}) than the one this machine "
                             "remembered ({remembered}).",
    AnchorVerdict.NOT_ASKED: "The server answered about entry {since} when this machine asked about entry {seq}.",
    AnchorVerdict.CUT: "The audit log no longer holds entry {seq}, which this machine saw on {seen}: its newest "
                       "entries were removed (the head is now entry {head}).",
    AnchorVerdict.REWRITTEN: "Entry {seq} of the audit log, which this machine saw on {seen}, has changed: the log "
                             "was rewritten up to it.",
    AnchorVerdict.BROKEN: "The audit log's entries after entry {seq} do not chain: entry {broken} was changed.",
}


def default_audit_heads_path() -> Path:
    """``$XDG_CONFIG_HOME/parrhesia/audit-heads.json`` (``~/.config`` by default)."""
    config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config_home) / "parrhesia" / "audit-heads.json"


@dataclass(frozen=True)
class AnchorCheck:
    """One look at a server's audit head: the verdict, what was remembered before, and
    the signed statement it was compared with."""

    verdict: AnchorVerdict
    remembered: RememberedHead | None
    statement: AnchorStatement
    seen: str | None  # when the remembered head was seen

    @property
    def warning(self) -> str | None:
        """What went wrong, in one sentence, or None when the head may be remembered."""
        template = _WARNINGS.get(self.verdict)
        if template is None:
            return None
        return template.format(
            key=self.statement.instance_key, remembered=self.remembered.instance_key if self.remembered else "none",
            since=self.statement.since_seq, seq=self.remembered.seq if self.remembered else "none",
            seen=self.seen or "an earlier day", head=self.statement.head_seq, broken=self.statement.broken_at,
        )

    @property
    def summary(self) -> str:
        head = f"entry {self.statement.head_seq} {self.statement.head_hash}"
        if self.verdict == AnchorVerdict.FIRST:
            return f"Audit log: head {head} remembered on this machine (first look)."
        if self.verdict == AnchorVerdict.EXTENDS and self.remembered is not None:
            return f"Audit log: intact from entry {self.remembered.seq}, seen here before; head now {head}."
        return f"Audit log: WARNING: {self.warning}"


class AuditHeads:
    """The last audit head seen of each server, and the statements that did not extend
    it, kept in a JSON file readable by its owner only."""

    VERSION = 1

    def __init__(self, path: Path) -> None:
        self.path = path
        self._servers: dict[str, dict[str, Any]] = {}
        servers = read_servers_file(path, self.VERSION, "audit heads")
        if servers is None:
            return
        if not all(isinstance(entry, dict) for entry in servers.values()):
            raise DeskError(f"{path} is not a file of audit heads this version of Parrhesia understands.")
        self._servers = servers

    def remembered(self, server: str) -> RememberedHead | None:
        head = self._servers.get(server, {}).get("head")
        if not isinstance(head, dict):
            return None
        try:
            return RememberedHead(int(head["seq"]), str(head["hash"]), str(head["instance_key"]))
        except (KeyError, TypeError, ValueError):
            raise DeskError(f"The audit head remembered for {server} in {self.path} is damaged.") from None

    def check(self, server: str, answer: dict[str, Any], *, accept: bool = False) -> AnchorCheck:
        """Compare the server's signed ``answer`` (``GET /audit/anchor``) with the head
        remembered for ``server``, and remember the new head if it extends it (or, with
        ``accept``, whatever it is: after a warning was explained). DeskError if the
        answer is not a statement signed by the key it names."""
        remembered = None if accept else self.remembered(server)
        statement, signature = _signed_statement(answer)
        check = AnchorCheck(anchor_verdict(remembered, statement), remembered, statement,
                            self._servers.get(server, {}).get("seen"))
        entry = self._servers.setdefault(server, {})
        if check.warning is None:
            entry["head"] = {"seq": statement.head_seq, "hash": statement.head_hash,
                             "instance_key": statement.instance_key}
            entry["seen"] = statement.at
        else:
            conflicts = [*entry.get("conflicts", []), {"statement": answer["statement"], "signature": signature}]
            entry["conflicts"] = conflicts[-_KEPT_CONFLICTS:]
        self._save()
        return check

    def since(self, server: str) -> int | None:
        """The entry to ask the server about: the remembered head's."""
        remembered = self.remembered(server)
        return remembered.seq if remembered else None

    def _save(self) -> None:
        try:
            replace_private_json(self.path, {"version": self.VERSION, "servers": self._servers})
        except OSError as exc:
            raise DeskError(f"Cannot save the audit heads in {self.path}: {exc}") from None


def _signed_statement(answer: dict[str, Any]) -> tuple[AnchorStatement, str]:
    text, signature = answer.get("statement"), answer.get("signature")
    if not isinstance(text, str) or not isinstance(signature, str):
        raise DeskError("The server's audit head is not a signed statement.")
    try:
        data = text.encode("ascii")
        statement = read_anchor_statement(data)
        valid = signature_is_valid(decode_verify_key(statement.instance_key), data,
                                   base64.b64decode(signature, validate=True))
    except (UnicodeEncodeError, ValueError, binascii.Error) as problem:
        raise DeskError(f"The server's audit head cannot be read: {problem}.") from None
    if not valid:
        raise DeskError("The server's audit head is not signed by the instance key it names.")
    return statement, signature


def look(client: DeskClient, heads: AuditHeads, *, accept: bool = False) -> AnchorCheck:
    """Ask ``client``'s server about the head remembered for it, and check the answer
    (with ``accept``: ask afresh and remember the head as it is now)."""
    since = None if accept else heads.since(client.server)
    return heads.check(client.server, client.audit_anchor(since), accept=accept)
