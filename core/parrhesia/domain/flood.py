"""Floods that cost the attacker: a wait or a proof of work before the expensive steps.

A first submission costs the server an Argon2id derivation, disk, and legal deadlines
in a real inbox; a source's log-in costs an Argon2id derivation. Neither can be tied to
a person (the instance keeps no IP address and sources have no account), so each *form*
is made to cost something instead, and what the server spends is bounded:

- Every submission and log-in form carries a *work challenge*: a signed, single-use
  token holding the second it was issued and what it asks. It is accepted once ``wait``
  seconds have passed since then — this works without JavaScript, and a source writing
  a report or typing a codename needs that long anyway — or at once with a hashcash
  solution: a string whose SHA-256 with the challenge starts with ``bits`` zero bits
  (docs/format.md, "Work challenges").
- While few forms are asked for, a challenge asks nothing (wait 0): sources see no
  difference. When more than ``forms_per_minute`` forms of one kind were issued in the
  last minute, each doubling of that rate doubles the wait and adds one bit.
- Ceilings: at most ``submissions_per_minute`` submissions, ``logins_per_minute``
  log-ins and ``follow_ups_per_minute`` follow-ups (what logged-in sources add to their
  reports) are taken per minute; beyond them a request is refused before its body is
  read or any derivation runs, with a Retry-After, and nothing is lost.
- The counts live in memory: operators see how many forms were issued, taken, refused
  as too early, over a ceiling or replayed — never who. ``parrhesia serve`` (and
  deploy/gunicorn.conf.py) calls :func:`share_between_processes` before gunicorn forks
  its workers, so rates, ceilings and figures are the instance's, not one worker's.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import math
import mmap
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import IO

from parrhesia.config import FloodSettings

__all__ = [
    "CEILINGS", "COUNTERS", "KINDS", "SOLUTION_LIMIT", "Challenge", "Check", "FloodMeter", "Verdict", "challenge_key", "share_between_processes",
    "solves",
]

KINDS = ("submit", "login")  # the forms that carry a work challenge
CEILINGS = ("submit", "login", "follow-up")  # what is taken under a ceiling per minute
WINDOW = 60  # seconds: rates are counted over the last minute
SOLUTION_LIMIT = 64  # characters of a hashcash solution
_VERSION = "w1"
_KEY_LABEL = b"parrhesia work challenge 1"


def challenge_key(secret_key: bytes) -> bytes:
    """The key that signs challenges, derived from the instance's signing secret."""
    return hmac.new(secret_key, _KEY_LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class Challenge:
    kind: str
    issued: int  # Unix seconds
    wait: int  # seconds after ``issued`` from which it is accepted without a solution
    bits: int  # leading zero bits a solution's hash must have instead (0: none asked)
    nonce: str

    def payload(self) -> str:
        return f"{_VERSION}.{self.kind}.{self.issued}.{self.wait}.{self.bits}.{self.nonce}"

    def token(self, key: bytes) -> str:
        payload = self.payload()
        return f"{payload}.{_mac(key, payload)}"

    @classmethod
    def parse(cls, token: str, key: bytes) -> Challenge | None:
        """The challenge a token carries, or None if it was not issued with ``key``."""
        payload, _, mac = token.rpartition(".")
        if len(token) > 200 or not hmac.compare_digest(mac, _mac(key, payload)):
            return None
        version, kind, issued, wait, bits, nonce = (payload.split(".") + [""] * 6)[:6]
        if version != _VERSION or kind not in KINDS or not (issued.isdigit() and wait.isdigit() and bits.isdigit()):
            return None
        return cls(kind, int(issued), int(wait), int(bits), nonce)


def _mac(key: bytes, payload: str) -> str:
    return hmac.new(key, payload.encode("ascii", "replace"), hashlib.sha256).hexdigest()[:32]


def solves(token: str, solution: str, bits: int) -> bool:
    """Whether SHA-256(token ":" solution) starts with ``bits`` zero bits."""
    if bits <= 0:
        return True
    if not solution or len(solution) > SOLUTION_LIMIT:
        return False
    digest = int.from_bytes(hashlib.sha256(f"{token}:{solution}".encode("utf-8", "replace")).digest(), "big")
    return digest >> (256 - bits) == 0


class Verdict(Enum):
    ACCEPTED = "accepted"
    EARLY = "early"  # neither waited for nor solved: ``seconds_left`` to wait
    INVALID = "invalid"  # not issued here, for another form, or expired


@dataclass(frozen=True)
class Check:
    verdict: Verdict
    seconds_left: int = 0


# The meter's numbers are 64-bit slots in one block: a window of one-second buckets
# (second, count) for what was issued and what was taken of each kind, then the counters.
_WINDOWS = (*(f"issued:{kind}" for kind in KINDS), *(f"taken:{kind}" for kind in CEILINGS))
COUNTERS = (
    *(f"{what}:{kind}" for kind in KINDS for what in ("issued", "stored", "early", "invalid", "replayed")),
    *(f"{what}:{kind}" for kind in CEILINGS for what in ("taken", "ceiling")),
)
_SLOTS = len(_WINDOWS) * WINDOW * 2 + len(COUNTERS)


class _Store:
    """The slots, and the lock that guards them: a thread lock within a process and,
    for a block shared with other processes, a POSIX record lock on its file, which the
    kernel releases if the process holding it dies (a killed worker blocks nobody)."""

    def __init__(self, buffer: bytearray | mmap.mmap, file: IO[bytes] | None = None) -> None:
        self.slots = memoryview(buffer).cast("q")
        self._file = file
        self._thread_lock = threading.Lock()

    @contextmanager
    def locked(self) -> Iterator[memoryview]:
        with self._thread_lock:
            if self._file is None:
                yield self.slots
                return
            fcntl.lockf(self._file, fcntl.LOCK_EX)
            try:
                yield self.slots
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN)


_shared: _Store | None = None


def share_between_processes() -> None:
    """Count in one block of memory that processes forked after this call share.

    Called once in the serving master before gunicorn forks its workers; every
    :class:`FloodMeter` made afterwards, in any of them, counts there.
    """
    global _shared
    file = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the life of the process, as the lock's file
    file.truncate(_SLOTS * 8)
    _shared = _Store(mmap.mmap(file.fileno(), _SLOTS * 8), file)


def _store() -> _Store:
    return _shared if _shared is not None else _Store(bytearray(_SLOTS * 8))


class _Window:
    """Counts over the last minute, in one-second buckets kept in ``WINDOW`` slot pairs
    (bounded memory under any flood); read and written under the store's lock."""

    def __init__(self, index: int) -> None:
        self._base = index * WINDOW * 2

    def _slots(self, slots: memoryview) -> Iterator[tuple[int, int]]:
        for at in range(self._base, self._base + WINDOW * 2, 2):
            yield slots[at], slots[at + 1]

    def add(self, slots: memoryview, second: int) -> None:
        at = self._base + (second % WINDOW) * 2
        if slots[at] != second:
            slots[at], slots[at + 1] = second, 0
        slots[at + 1] += 1

    def count(self, slots: memoryview, second: int) -> int:
        return sum(n for at, n in self._slots(slots) if second - WINDOW < at <= second)

    def oldest(self, slots: memoryview, second: int) -> int:
        """The second of the oldest count still in the window (``second`` if none)."""
        return min((at for at, n in self._slots(slots) if n and second - WINDOW < at <= second), default=second)


class FloodMeter:
    """The instance's rates, levels and counts (safe across threads, greenlets and, once
    :func:`share_between_processes` was called, the serving processes forked after it)."""

    def __init__(self, settings: FloodSettings, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.key = key
        self.clock = clock
        self._store = _store()
        self._windows = {name: _Window(i) for i, name in enumerate(_WINDOWS)}
        self._counter_at = {name: len(_WINDOWS) * WINDOW * 2 + i for i, name in enumerate(COUNTERS)}

    def level(self, kind: str) -> int:
        """0 while at most ``forms_per_minute`` forms of the kind were issued in the last
        minute; then one more for each doubling of that rate (at most ``max_level``)."""
        with self._store.locked() as slots:
            return self._level(slots, kind, int(self.clock()))

    def _level(self, slots: memoryview, kind: str, second: int) -> int:
        rate, limit = self._windows[f"issued:{kind}"].count(slots, second), self.settings.forms_per_minute
        if rate <= limit:
            return 0
        return min(self.settings.max_level, math.ceil(math.log2(rate / limit)))

    def issue(self, kind: str) -> tuple[str, Challenge]:
        """A new challenge for a form of ``kind`` (its token and what it asks), counted in the rate."""
        second = int(self.clock())
        with self._store.locked() as slots:
            self._windows[f"issued:{kind}"].add(slots, second)
            level = self._level(slots, kind, second)
            slots[self._counter_at[f"issued:{kind}"]] += 1
        base = self.settings.submit_wait if kind == "submit" else self.settings.login_wait
        wait = base * 2 ** (level - 1) if level else 0
        bits = self.settings.bits + level - 1 if level else 0
        challenge = Challenge(kind, second, wait, bits, secrets.token_hex(8))
        return challenge.token(self.key), challenge

    def check(self, token: str, solution: str, *, kind: str, max_age: int) -> Check:
        """Whether a form's challenge was waited for or solved; counted."""
        now = int(self.clock())
        challenge = Challenge.parse(token, self.key)
        if challenge is None or challenge.kind != kind or not 0 <= now - challenge.issued <= max_age:
            self.count(f"invalid:{kind}")
            return Check(Verdict.INVALID)
        if now - challenge.issued >= challenge.wait or solves(token, solution, challenge.bits):
            return Check(Verdict.ACCEPTED)
        self.count(f"early:{kind}")
        return Check(Verdict.EARLY, challenge.issued + challenge.wait - now)

    def take(self, kind: str) -> int:
        """Take one request of ``kind`` under its ceiling: 0 if taken, else the seconds
        until the ceiling has room again (nothing is counted as taken then)."""
        ceiling = {"submit": self.settings.submissions_per_minute, "login": self.settings.logins_per_minute,
                   "follow-up": self.settings.follow_ups_per_minute}[kind]
        second = int(self.clock())
        window = self._windows[f"taken:{kind}"]
        with self._store.locked() as slots:
            if window.count(slots, second) >= ceiling:
                slots[self._counter_at[f"ceiling:{kind}"]] += 1
                return max(1, window.oldest(slots, second) + WINDOW - second)
            window.add(slots, second)
            slots[self._counter_at[f"taken:{kind}"]] += 1
            return 0

    def count(self, name: str) -> None:
        """Count one event of ``name`` (one of :data:`COUNTERS`)."""
        with self._store.locked() as slots:
            slots[self._counter_at[name]] += 1

    def figures(self) -> dict[str, int]:
        """The counts since serving started (those that are not 0), and each kind's current level."""
        with self._store.locked() as slots:
            second = int(self.clock())
            figures = {name: slots[at] for name, at in self._counter_at.items() if slots[at]}
            figures.update({f"level:{kind}": self._level(slots, kind, second) for kind in KINDS})
        return dict(sorted(figures.items()))
