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
- Ceilings: at most ``submissions_per_minute`` submissions and ``logins_per_minute``
  log-ins are taken per minute; beyond them a request is refused before its body is
  read or any derivation runs, with a Retry-After, and nothing is lost.
- The counts live in memory, per serving process: operators see how many forms were
  issued, taken, refused as too early, over a ceiling or replayed — never who.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from parrhesia.config import FloodSettings

__all__ = ["KINDS", "Challenge", "Verdict", "Check", "FloodMeter", "solves", "challenge_key", "SOLUTION_LIMIT"]

KINDS = ("submit", "login")
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


class _Window:
    """Counts over the last minute, in one-second buckets (bounded memory under any flood)."""

    def __init__(self) -> None:
        self._buckets: deque[list[int]] = deque()

    def _trim(self, second: int) -> None:
        while self._buckets and self._buckets[0][0] <= second - WINDOW:
            self._buckets.popleft()

    def add(self, second: int) -> None:
        self._trim(second)
        if self._buckets and self._buckets[-1][0] == second:
            self._buckets[-1][1] += 1
        else:
            self._buckets.append([second, 1])

    def count(self, second: int) -> int:
        self._trim(second)
        return sum(n for _, n in self._buckets)

    def oldest(self, second: int) -> int:
        """The second of the oldest count still in the window (``second`` if none)."""
        self._trim(second)
        return self._buckets[0][0] if self._buckets else second


class FloodMeter:
    """One serving process's rates, levels and counts (safe across threads and greenlets)."""

    def __init__(self, settings: FloodSettings, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.key = key
        self.clock = clock
        self._issued = {kind: _Window() for kind in KINDS}
        self._taken = {kind: _Window() for kind in KINDS}
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def level(self, kind: str) -> int:
        """0 while at most ``forms_per_minute`` forms of the kind were issued in the last
        minute; then one more for each doubling of that rate (at most ``max_level``)."""
        with self._lock:
            return self._level(kind, int(self.clock()))

    def _level(self, kind: str, second: int) -> int:
        rate, limit = self._issued[kind].count(second), self.settings.forms_per_minute
        if rate <= limit:
            return 0
        return min(self.settings.max_level, math.ceil(math.log2(rate / limit)))

    def issue(self, kind: str) -> tuple[str, Challenge]:
        """A new challenge for a form of ``kind`` (its token and what it asks), counted in the rate."""
        now = self.clock()
        second = int(now)
        with self._lock:
            self._issued[kind].add(second)
            level = self._level(kind, second)
            self._counts[f"issued:{kind}"] += 1
            self._counts[f"level:{kind}"] = level
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
        ceiling = self.settings.submissions_per_minute if kind == "submit" else self.settings.logins_per_minute
        second = int(self.clock())
        with self._lock:
            window = self._taken[kind]
            if window.count(second) >= ceiling:
                self._counts[f"ceiling:{kind}"] += 1
                return max(1, window.oldest(second) + WINDOW - second)
            window.add(second)
            self._counts[f"taken:{kind}"] += 1
            return 0

    def count(self, name: str) -> None:
        with self._lock:
            self._counts[name] += 1

    def figures(self) -> dict[str, int]:
        """This process's counts since it started, and each kind's current level."""
        with self._lock:
            second = int(self.clock())
            for kind in KINDS:
                self._counts[f"level:{kind}"] = self._level(kind, second)
            return dict(sorted(self._counts.items()))
