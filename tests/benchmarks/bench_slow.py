"""Slow-upload benchmark: many sources uploading slowly while other visitors load pages.

Not a test (pytest does not collect it); ``make bench`` runs it and it prints figures.
A fresh instance is made and served with the command line, as an operator would
(``parrhesia init``, ``serve``, and a reader holding the body key: ``keys generate``,
``recipients add``, ``desk body-key create``); one small submission warms it up. Then:

- every upload gets a source session and a content form of its own (GET /submit, POST
  /submit/review), all done before any upload starts;
- the uploads start together (spread over the first second) and each sends its
  multipart POST at a set rate, as a source on a slow link (over Tor) would; a server
  that does not read holds the client back (a small send buffer: no more than the
  server's receive window goes ahead) and the time lost is not made up; an upload
  without an answer ``UPLOAD_DEADLINE_S`` after it started counts as failed;
- meanwhile a few page clients load the landing page and /submit in turn, a short
  pause between requests, and their latency is recorded until the last upload ends; a
  request without a full answer within ``PAGE_TIMEOUT_S`` is an error, counted at that
  latency;
- the serving processes (the ``parrhesia serve`` process and all its descendants, the
  gunicorn workers today) are sampled every ``SAMPLE_EVERY_S`` for their resident
  memory, summed over the processes; each one's VmHWM is printed at the end;
- the uploads stored are counted twice: answers showing a codename, and the reports
  ``parrhesia reports list`` shows afterwards (with the blobs of attachment size).

The client is one asyncio loop writing precomputed bodies (one shared attachment), so
that it takes as little as possible of the CPU the measured server runs on.

Targets (issue 10): with 256 uploads of 1 MiB at 64 KiB/s in flight, page p99 under
1 s, every upload stored, the serving processes under 300 MiB in total. The figures
are printed next to the targets with PASS or MISS; the exit status is 0 either way.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import resource
import secrets
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_support import (  # noqa: E402
    CODENAME,
    Attachment,
    ServedInstance,
    WebClient,
    add_reader,
    content_form_fields,
    multipart_body,
    peak_rss_bytes,
    run_parrhesia,
    set_instance_option,
)

KIB = 1024
MIB = 1024 * 1024
TARGET_PAGE_P99_S = 1.0
TARGET_TOTAL_MIB = 300
PAGE_TIMEOUT_S = 30.0
UPLOAD_DEADLINE_S = 120.0
SAMPLE_EVERY_S = 0.1
RAMP_S = 1.0  # the uploads' starts are spread over this, not one burst of connections
SEND_EVERY_S = 0.25  # an upload writes rate x this many bytes at a time
CLIENT_SEND_BUFFER = 8 * KIB  # SO_SNDBUF of an upload's socket (see _send_slowly)
PAGES = ("/", "/submit")
IDLE_SAMPLES = 20
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


# ---------------------------------------------------------------- the served instance


def _raise_file_limit() -> int:
    """Raise this process's open-file limit to its hard limit (the server inherits it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    return soft


def _make_instance(root: Path, size: int) -> Path:
    """A fresh instance whose submission limit admits an attachment of ``size`` bytes."""
    instance = root / "instance"
    done = run_parrhesia("init", "--instance", str(instance), "--name", "Benchmark")
    if done.returncode != 0:
        sys.exit(f"parrhesia init failed:\n{done.stderr}")
    set_instance_option(instance, "max_submission_bytes", max(500 * 1000 * 1000, 2 * size + MIB))
    return instance


def _stored_reports(instance: Path) -> int:
    """How many reports the instance holds, as ``parrhesia reports list`` says."""
    done = run_parrhesia("reports", "list", "--instance", str(instance), "--json")
    if done.returncode != 0:
        sys.exit(f"parrhesia reports list failed:\n{done.stderr}")
    return len(json.loads(done.stdout)["reports"])


def _stored_blobs(instance: Path, size: int) -> int | None:
    """Files under the instance's blobs/ at least ``size`` bytes long (None without blobs/)."""
    blobs = instance / "blobs"
    if not blobs.is_dir():
        return None
    return sum(1 for p in blobs.rglob("*") if p.is_file() and ".tmp" not in p.parts and p.stat().st_size >= size)


# ---------------------------------------------------------------- memory of the serving processes


def _descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, from /proc/<pid>/task/*/children."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        try:
            for task in Path(f"/proc/{current}/task").iterdir():
                todo += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
    return found


def _rss_and_pss(pid: int) -> tuple[int, int]:
    """A process's resident set and proportional set sizes in bytes (0, 0 once it ended)."""
    try:
        rss = int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE
        pss = 0
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) * KIB
                break
    except (FileNotFoundError, ProcessLookupError):
        return 0, 0
    return rss, pss


@dataclass
class MemorySampler:
    """Samples the summed RSS (and PSS) of a process tree on a thread of its own."""

    root_pid: int
    peak_rss: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    samples: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> MemorySampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            pids = _descendants(self.root_pid)
            sizes = [_rss_and_pss(pid) for pid in pids]
            self.peak_rss = max(self.peak_rss, sum(rss for rss, _ in sizes))
            self.peak_pss = max(self.peak_pss, sum(pss for _, pss in sizes))
            self.peak_processes = max(self.peak_processes, len(pids))
            self.samples += 1
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


# ---------------------------------------------------------------- preparing the uploads


@dataclass(frozen=True)
class PreparedUpload:
    """One source's slow POST, ready to send: its request head and its body's pieces."""

    head: bytes
    body: tuple[bytes, ...]


def _prepare_upload(url: str, host: str, attachment: bytes, number: int) -> PreparedUpload:
    """The quick steps of a submission (routing questions, review), then its content POST."""
    client = WebClient(url)
    review = client.post_form("/submit/review", {"csrf_token": client.csrf_token("/submit")})
    if review.status != 200:
        raise RuntimeError(f"the review step answered {review.status}")
    fields = [*content_form_fields(review.text), ("message", f"slow upload {number}")]
    boundary = "----parrhesia" + secrets.token_hex(12)
    body = tuple(multipart_body(boundary, fields, [Attachment(f"slow-{number}.bin", attachment)]))
    cookie = "; ".join(f"{c.name}={c.value}" for c in client.jar)
    head = (
        f"POST /submit HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
        f"Content-Length: {sum(len(piece) for piece in body)}\r\n"
        f"Cookie: {cookie}\r\nConnection: close\r\n\r\n"
    ).encode("ascii")
    return PreparedUpload(head, body)


def prepare_uploads(url: str, host: str, attachment: bytes, count: int) -> list[PreparedUpload]:
    """``count`` prepared uploads, each with a session and a single-use form of its own."""
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda n: _prepare_upload(url, host, attachment, n), range(count)))


# ---------------------------------------------------------------- the asyncio client


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """An HTTP/1.1 response's status and body (Content-Length, or up to the close)."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    match = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
    body = await reader.readexactly(int(match.group(1))) if match else await reader.read()
    return status, body


def _chunks(pieces: tuple[bytes, ...], size: int) -> Iterator[memoryview]:
    """The pieces re-cut into views of at most ``size`` bytes (nothing copied)."""
    for piece in pieces:
        view = memoryview(piece)
        for start in range(0, len(view), size):
            yield view[start:start + size]


@dataclass
class UploadResult:
    """What became of one upload, and how many of its bytes the client wrote."""

    outcome: str = "timed out"  # or "stored", "refused HTTP <status>", "connection error"
    seconds: float = 0.0
    sent: int = 0


async def _send_slowly(host: str, port: int, upload: PreparedUpload, rate: int, result: UploadResult) -> str:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # A small send buffer, and drain() waiting until the kernel has taken everything:
    # bytes the server does not read stay with the client, as on a slow network. With
    # loopback's default buffers a whole attachment would wait in the kernel for a
    # server that has not started reading it yet, and arrive at once when it does.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, CLIENT_SEND_BUFFER)
    sock.setblocking(False)
    try:
        await loop.sock_connect(sock, (host, port))
    except BaseException:
        sock.close()
        raise
    reader, writer = await asyncio.open_connection(sock=sock)
    writer.transport.set_write_buffer_limits(high=0)
    answer = asyncio.create_task(_read_response(reader))
    try:
        writer.write(upload.head)
        result.sent += len(upload.head)
        due = loop.time()
        try:
            for chunk in _chunks(upload.body, max(1, int(rate * SEND_EVERY_S))):
                if answer.done():
                    break  # the server answered early (a refusal): stop, as a browser does
                writer.write(chunk)
                await writer.drain()
                result.sent += len(chunk)
                # Pace at the rate; time lost waiting on the server is not made up later.
                due = max(due + len(chunk) / rate, loop.time())
                await asyncio.sleep(due - loop.time())
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server refused the rest; its answer may still be there
        status, body = await answer
    finally:
        answer.cancel()
        writer.close()
    if status == 200 and CODENAME.search(body.decode("utf-8", errors="replace")):
        return "stored"
    return f"refused HTTP {status}"


async def slow_upload(host: str, port: int, upload: PreparedUpload, rate: int, delay: float) -> UploadResult:
    """Send one prepared upload at ``rate`` bytes a second; what became of it."""
    await asyncio.sleep(delay)
    loop = asyncio.get_running_loop()
    started = loop.time()
    result = UploadResult()
    try:
        result.outcome = await asyncio.wait_for(_send_slowly(host, port, upload, rate, result), UPLOAD_DEADLINE_S)
    except TimeoutError:
        result.outcome = "timed out"
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
        result.outcome = "connection error"
    result.seconds = loop.time() - started
    return result


async def _get(host: str, port: int, path: str) -> int:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode("ascii"))
        status, _ = await _read_response(reader)
    finally:
        writer.close()
    return status


@dataclass
class PageFigures:
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    timeouts: int = 0


async def _timed_get(host: str, port: int, path: str, figures: PageFigures) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        status = await asyncio.wait_for(_get(host, port, path), PAGE_TIMEOUT_S)
        if status != 200:
            figures.errors += 1
    except TimeoutError:
        figures.errors += 1
        figures.timeouts += 1
    except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, IndexError):
        figures.errors += 1
    figures.latencies.append(min(loop.time() - started, PAGE_TIMEOUT_S))


async def page_client(
    host: str, port: int, number: int, pause: float, stop: asyncio.Event, figures: PageFigures
) -> None:
    """Load the pages in turn until ``stop``; a request under way when it is set completes."""
    turn = number
    while not stop.is_set():
        await _timed_get(host, port, PAGES[turn % len(PAGES)], figures)
        turn += 1
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pass


async def idle_pages(host: str, port: int) -> PageFigures:
    """Page latency with nothing else going on, for scale."""
    figures = PageFigures()
    for turn in range(IDLE_SAMPLES):
        await _timed_get(host, port, PAGES[turn % len(PAGES)], figures)
    return figures


async def run_load(
    host: str, port: int, uploads: list[PreparedUpload], rate: int, page_clients: int, pause: float
) -> tuple[list[UploadResult], PageFigures, float]:
    """The slow uploads with the page clients alongside; the seconds it all took."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    pages = PageFigures()
    started = loop.time()
    clients = [asyncio.create_task(page_client(host, port, n, pause, stop, pages)) for n in range(page_clients)]
    spread = RAMP_S / max(1, len(uploads))
    results = await asyncio.gather(*(slow_upload(host, port, u, rate, n * spread) for n, u in enumerate(uploads)))
    elapsed = loop.time() - started
    stop.set()
    await asyncio.gather(*clients)
    return list(results), pages, elapsed


# ---------------------------------------------------------------- figures


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` of 1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def _verdict(met: bool) -> str:
    return "PASS" if met else "MISS"


def _latency_line(figures: PageFigures) -> str:
    if not figures.latencies:
        return "no requests"
    values = figures.latencies
    return (f"p50 {percentile(values, 0.5):.3f} s, p99 {percentile(values, 0.99):.3f} s, max {max(values):.3f} s "
            f"over {len(values)} requests, {figures.errors} errors ({figures.timeouts} timeouts)")


def _process_peaks(root_pid: int) -> list[tuple[int, int]]:
    """(pid, VmHWM bytes) for each serving process still running."""
    peaks = []
    for pid in _descendants(root_pid):
        try:
            peaks.append((pid, peak_rss_bytes(pid)))
        except (FileNotFoundError, ProcessLookupError, AssertionError):
            continue
    return peaks


@dataclass
class Run:
    """What one run measured."""

    server: str
    idle: PageFigures
    pages: PageFigures
    results: list[UploadResult]
    prepare_seconds: float
    upload_seconds: float
    wall_seconds: float
    memory: MemorySampler
    process_peaks: list[tuple[int, int]]
    master_pid: int
    reports_added: int
    blobs: int | None


def report(args: argparse.Namespace, run: Run) -> None:
    """Print the figures, each target next to its figure."""
    results, pages, idle, memory = run.results, run.pages, run.idle, run.memory
    size = int(args.mib * MIB)
    count = len(results)
    print(f"\nParrhesia slow-upload benchmark: {count} uploads of {args.mib:g} MiB at {args.rate_kib:g} KiB/s each, "
          f"{args.page_clients} page clients ({', '.join(PAGES)} in turn, {args.page_pause:g} s apart)")
    print(f"  server: {run.server}")
    print(f"  page latency, idle ({IDLE_SAMPLES} requests before the uploads): {_latency_line(idle)}")
    print(f"  page latency while the uploads are in flight: {_latency_line(pages)}")
    print(f"    (a request unanswered after {PAGE_TIMEOUT_S:g} s is an error, counted at {PAGE_TIMEOUT_S:g} s)")
    p99 = percentile(pages.latencies, 0.99) if pages.latencies else math.inf
    print(f"    target: page p99 < {TARGET_PAGE_P99_S:g} s: {p99:.3f} s  {_verdict(p99 < TARGET_PAGE_P99_S)}")

    outcomes: dict[str, int] = {}
    for result in results:
        outcomes[result.outcome] = outcomes.get(result.outcome, 0) + 1
    stored = outcomes.get("stored", 0)
    print(f"  uploads stored: {stored} of {count} answered with a codename; the instance holds {run.reports_added} "
          "new reports (parrhesia reports list)"
          + (f", {run.blobs} blobs of at least {args.mib:g} MiB" if run.blobs is not None else ""))
    print("    outcomes: " + ", ".join(f"{n} {outcome}" for outcome, n in sorted(outcomes.items()))
          + f" (an upload unanswered {UPLOAD_DEADLINE_S:g} s after it started has timed out)")
    stored_times = [r.seconds for r in results if r.outcome == "stored"]
    ideal = size / (args.rate_kib * KIB)
    if stored_times:
        print(f"    stored uploads took p50 {percentile(stored_times, 0.5):.1f} s, max {max(stored_times):.1f} s "
              f"(the rate alone takes {ideal:.1f} s)")
    all_stored = stored == count and run.reports_added == count
    print(f"    target: all {count} stored: {stored} answered, {run.reports_added} in the instance  "
          f"{_verdict(all_stored)}")

    total_mib = memory.peak_rss / MIB
    print(f"  serving processes' peak memory: {total_mib:.1f} MiB RSS summed over up to {memory.peak_processes} "
          f"processes (sampled every {SAMPLE_EVERY_S:g} s, {memory.samples} samples; shared pages count in each); "
          f"peak PSS sum {memory.peak_pss / MIB:.1f} MiB")
    if run.process_peaks:
        peaks = [f"{pid}{' (serve)' if pid == run.master_pid else ''} {hwm / MIB:.1f} MiB"
                 for pid, hwm in run.process_peaks]
        print("    VmHWM per process at the end: " + ", ".join(peaks))
    print(f"    target: serving processes < {TARGET_TOTAL_MIB} MiB: {total_mib:.1f} MiB  "
          f"{_verdict(total_mib < TARGET_TOTAL_MIB)}")

    sent = sum(r.sent for r in results)
    delivered = stored * size
    print(f"  wall time {run.wall_seconds:.1f} s (sessions and forms {run.prepare_seconds:.1f} s, "
          f"uploads {run.upload_seconds:.1f} s); aggregate upload throughput "
          f"{sent / MIB / run.upload_seconds:.2f} MiB/s written by the clients, "
          f"{delivered / MIB / run.upload_seconds:.2f} MiB/s of attachments stored "
          f"(the offered load is {count * args.rate_kib / 1024:.2f} MiB/s)")


# ---------------------------------------------------------------- main


def bench(args: argparse.Namespace, root: Path) -> None:
    """Make and serve an instance in ``root``, run the load on it and print the figures."""
    started = time.monotonic()
    size = int(args.mib * MIB)
    attachment = os.urandom(size)
    instance = _make_instance(root, size)
    served = ServedInstance(instance, root / "server", workers=args.workers, threads=args.threads, access_log=False,
                            worker_class=args.worker_class)
    server = f"parrhesia serve --worker-class {args.worker_class} --workers {args.workers} --threads {args.threads}"
    with served:
        assert served.process is not None
        master_pid = served.process.pid
        memory = MemorySampler(master_pid).start()
        try:
            add_reader(served, "integrity-office", "Bench")
            warm_up, codename = WebClient(served.url).submit("warm-up")
            if codename is None:
                sys.exit(f"the warm-up submission failed: HTTP {warm_up.status}\n{served.log()[-3000:]}")
            before = _stored_reports(instance)
            host, port = "127.0.0.1", served.port
            prepare_started = time.monotonic()
            try:
                uploads = prepare_uploads(served.url, f"{host}:{port}", attachment, args.uploads)
            except (OSError, RuntimeError, AssertionError) as error:
                sys.exit(f"preparing the uploads failed: {error}\n{served.log()[-3000:]}")
            prepare_seconds = time.monotonic() - prepare_started
            idle = asyncio.run(idle_pages(host, port))
            rate = int(args.rate_kib * KIB)
            results, pages, upload_seconds = asyncio.run(
                run_load(host, port, uploads, rate, args.page_clients, args.page_pause))
            process_peaks = _process_peaks(master_pid)
        finally:
            memory.stop()
    reports_added = _stored_reports(instance) - before
    blobs = _stored_blobs(instance, size)
    report(args, Run(server, idle, pages, results, prepare_seconds, upload_seconds, time.monotonic() - started,
                     memory, process_peaks, master_pid, reports_added, blobs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=256, help="concurrent slow uploads (default 256)")
    parser.add_argument("--mib", type=float, default=1.0, help="attachment size in MiB (default 1)")
    parser.add_argument("--rate-kib", type=float, default=64.0, help="each upload's rate in KiB/s (default 64)")
    parser.add_argument("--page-clients", type=int, default=4, help="clients loading pages meanwhile (default 4)")
    parser.add_argument("--page-pause", type=float, default=0.1,
                        help="seconds a page client waits between requests (default 0.1)")
    parser.add_argument("--workers", type=int, default=1, help="parrhesia serve --workers (default 1, as serve)")
    parser.add_argument("--worker-class", choices=("gevent", "gthread"), default="gevent",
                        help="parrhesia serve --worker-class (default gevent, as serve)")
    parser.add_argument("--threads", type=int, default=4, help="parrhesia serve --threads (default 4, as serve)")
    parser.add_argument("--keep", action="store_true", help="keep the instance folder and print where it is")
    args = parser.parse_args()
    if args.uploads < 1 or args.mib <= 0 or args.rate_kib <= 0 or args.page_clients < 0:
        parser.error("--uploads, --mib and --rate-kib must be positive, --page-clients not negative")
    files = _raise_file_limit()
    if files < args.uploads + args.page_clients + 64:
        sys.exit(f"the open-file limit ({files}) is too low for {args.uploads} uploads")
    root = Path(tempfile.mkdtemp(prefix="parrhesia-bench-slow-"))
    try:
        bench(args, root)
    finally:
        if args.keep:
            print(f"  instance kept in {root / 'instance'} (server log: {root / 'server' / 'server.log'})")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
