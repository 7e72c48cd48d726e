"""Flood benchmark: a junk flood of first reports while legitimate sources submit.

Not a test (pytest does not collect it); ``make bench`` runs it and it prints figures.
A fresh instance (``parrhesia init``, defaults of ``[flood]``) is served with the
command line and given a reader. Then, at once:

- ``--attackers`` threads send junk reports as fast as the server answers, each a new
  browser session through the forms (GET /submit, POST /submit/review, POST /submit),
  never waiting for what a form asks, until ``--junk`` reports were attempted;
- ``--sources`` legitimate sources each submit one report, one after another spread
  over the flood: they open the form, wait what the form asks (as a person writing a
  report does), send it, and send it again after ``Retry-After`` if refused (at most
  ``RETRIES`` times).

Printed: the junk attempted, stored and refused by status; the disk the blobs took; the
legitimate reports stored and lost; the latency of the legitimate sources' final POST
(p50, p99) and the time they waited. Targets (issue 16): 0 legitimate reports lost, disk
bounded, legitimate submission p99 under 2 s. The exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import math
import re
import shutil
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_support import (  # noqa: E402
    CODENAME,
    ServedInstance,
    WebClient,
    add_reader,
    content_form_fields,
    run_parrhesia,
)

TARGET_P99_S = 2.0
RETRIES = 5
_CHALLENGE = re.compile(r'name="work_challenge" value="([^"]+)"')


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))] if ordered else float("nan")


def _blob_bytes(instance: Path) -> int:
    return sum(p.stat().st_size for p in (instance / "blobs").rglob("*") if p.is_file())


class Tally:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.junk_statuses: dict[int, int] = {}
        self.attempted = 0
        self.ended = time.monotonic()

    def take_attempt(self, limit: int) -> bool:
        with self.lock:
            if self.attempted >= limit:
                self.ended = time.monotonic()
                return False
            self.attempted += 1
            return True

    def record(self, status: int) -> None:
        with self.lock:
            self.junk_statuses[status] = self.junk_statuses.get(status, 0) + 1


def _form(client: WebClient) -> tuple[list[tuple[str, str]], int]:
    """A content form's fields and the wait its challenge asks."""
    token = client.csrf_token("/submit")
    review = client.post_form("/submit/review", {"csrf_token": token})
    if review.status != 200:
        raise RuntimeError(f"review answered {review.status}")
    match = _CHALLENGE.search(review.text)
    wait = int(match.group(1).split(".")[3]) if match else 0
    return content_form_fields(review.text), wait


def attacker(url: str, tally: Tally, limit: int) -> None:
    while tally.take_attempt(limit):
        client = WebClient(url)
        try:
            fields, _ = _form(client)
            response = client.post_multipart("/submit", [*fields, ("message", "junk " * 200)], [])
            tally.record(response.status)
        except (OSError, RuntimeError):
            tally.record(0)


def source(url: str, number: int) -> tuple[bool, float, float, int]:
    """(stored, latency of the final POST, seconds waited, attempts)."""
    waited = 0.0
    for attempt in range(1, RETRIES + 1):
        client = WebClient(url)
        try:
            fields, wait = _form(client)
        except (OSError, RuntimeError):
            time.sleep(1)
            waited += 1
            continue
        time.sleep(wait)
        waited += wait
        started = time.monotonic()
        response = client.post_multipart("/submit", [*fields, ("message", f"legitimate report {number}")], [])
        latency = time.monotonic() - started
        if CODENAME.search(response.text):
            return True, latency, waited, attempt
        retry = int(response.headers.get("Retry-After", "5") or 5) if response.status in (429, 503) else 5
        time.sleep(retry)
        waited += retry
    return False, float("nan"), waited, RETRIES


def bench(args: argparse.Namespace, root: Path) -> None:
    instance = root / "instance"
    done = run_parrhesia("init", "--instance", str(instance), "--name", "Flood benchmark")
    if done.returncode != 0:
        sys.exit(f"parrhesia init failed:\n{done.stderr}")
    with ServedInstance(instance, root / "server", workers=1, worker_class="gevent", access_log=False) as served:
        add_reader(served, "integrity-office", "Bench")
        disk_before = _blob_bytes(instance)
        tally = Tally()
        started = time.monotonic()
        with ThreadPoolExecutor(args.attackers + args.sources) as pool:
            floods = [pool.submit(attacker, served.url, tally, args.junk) for _ in range(args.attackers)]
            legit = []
            for n in range(args.sources):
                legit.append(pool.submit(source, served.url, n))
                time.sleep(args.spacing)
            results = [f.result() for f in legit]
            for f in floods:
                f.result()
            flood_seconds = tally.ended - started
        seconds = time.monotonic() - started
        disk = _blob_bytes(instance) - disk_before
        listed = run_parrhesia("reports", "list", "--instance", str(instance), "--json")
    stored = [r for r in results if r[0]]
    latencies = [r[1] for r in stored]
    junk_stored = tally.junk_statuses.get(200, 0)
    p99 = _percentile(latencies, 0.99)
    print(f"Flood benchmark: {args.attackers} attackers, {tally.attempted} junk reports attempted in "
          f"{flood_seconds:.0f} s ({tally.attempted / max(flood_seconds, 0.001):.0f}/s), {args.sources} legitimate "
          f"sources; [flood] defaults; {seconds:.0f} s in all")
    print(f"  junk answers by status: {dict(sorted(tally.junk_statuses.items()))}")
    print(f"  junk stored: {junk_stored} ({100 * junk_stored / max(1, tally.attempted):.1f}%)")
    print(f"  blobs written during the flood: {disk / 1e6:.1f} MB")
    print(f"  legitimate stored: {len(stored)}/{len(results)}; lost: {len(results) - len(stored)} (target 0) "
          f"{'PASS' if len(stored) == len(results) else 'MISS'}")
    print(f"  legitimate final POST latency: p50 {_percentile(latencies, 0.5):.2f} s, p99 {p99:.2f} s "
          f"(target < {TARGET_P99_S:.0f} s) {'PASS' if p99 < TARGET_P99_S else 'MISS'}")
    print(f"  legitimate sources waited (what their forms asked, and retries): "
          f"median {_percentile([r[2] for r in results], 0.5):.0f} s, max {max(r[2] for r in results):.0f} s; "
          f"attempts: max {max(r[3] for r in results)}")
    if listed.returncode == 0:
        print(f"  reports on the instance afterwards: {listed.stdout.count(chr(34) + 'id' + chr(34))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--junk", type=int, default=10_000, help="junk reports to attempt")
    parser.add_argument("--attackers", type=int, default=16, help="attacking threads")
    parser.add_argument("--sources", type=int, default=20, help="legitimate sources")
    parser.add_argument("--spacing", type=float, default=2.0, help="seconds between legitimate sources' starts")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="parrhesia-bench-flood-"))
    try:
        bench(args, root)
    finally:
        if args.keep:
            print(f"instance kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
