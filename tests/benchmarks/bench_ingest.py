"""Ingest benchmark: a source uploading 256 MiB to a served instance, next to ``age -r``.

Not a test (pytest does not collect it); ``make bench`` runs it and it prints figures:

- wall-clock throughput of one streamed multipart POST of a generated 256 MiB attachment
  to ``parrhesia serve`` (gunicorn, one gevent worker, or gthread with ``--worker-class``) over loopback, and the worker's
  peak resident memory (VmHWM) during it;
- ``age -r`` encrypting the same file in the same run, for scale: one age run after
  each upload, so that both see the machine in the same state;
- the time Parrhesia's encryption alone takes for the same size on one core, the
  ceiling for any ingest of a single attachment (format v1 chains its chunks);
- a floor for the machine: a minimal server in this process (a bare socket, no HTTP,
  no parsing, nothing stored) receiving the same bytes over loopback from the same kind
  of client, first only receiving, then receiving while PartWriter encrypts on a second
  thread. The second figure is what the machine's cores give to the network and the
  encryption when they do nothing else; a server that also parses, stores durably and
  answers does more on the same cores, so it should not expect to beat it.

The client sends the file with ``sendfile``, so that it takes as little as possible of
the CPU the measured server needs (a browser on another machine takes none).

Targets (issue 2, item 11): ingest at least 0.8x age's throughput; server peak memory
under 100 MiB whatever the upload size. ``--profile`` adds a cProfile of the in-process
parser (parrhesia.upload.receive_submission) on the same body, to see where time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import queue
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server_support import (  # noqa: E402
    Attachment,
    Response,
    ServedInstance,
    WebClient,
    add_reader,
    content_form_fields,
    multipart_body,
    peak_rss_bytes,
    run_parrhesia,
)

MIB = 1024 * 1024
TARGET_RATIO = 0.8
TARGET_PEAK_MIB = 100


def _write_test_file(path: Path, size: int) -> None:
    block = os.urandom(4 * MIB)
    with open(path, "wb") as handle:
        left = size
        while left:
            handle.write(block[: min(left, len(block))])
            left -= min(left, len(block))


def _read(path: Path, chunk: int = MIB) -> Iterator[bytes]:
    with open(path, "rb") as handle:
        while piece := handle.read(chunk):
            yield piece


def _make_instance(root: Path, size: int) -> Path:
    """A fresh instance whose submission limit admits an upload of ``size`` bytes."""
    instance = root / "instance"
    for args in (("init", "--instance", str(instance), "--name", "Benchmark"),):
        done = run_parrhesia(*args)
        if done.returncode != 0:
            sys.exit(f"parrhesia {args[0]} failed:\n{done.stderr}")
        if args[0] == "init":
            config = instance / "parrhesia.toml"
            limit = max(500 * 1000 * 1000, size + MIB)
            text = re.sub(r"(?m)^max_submission_bytes = \d+$", f"max_submission_bytes = {limit}", config.read_text())
            config.write_text(text)
    return instance


def bench_upload(
    root: Path, data: Path, size: int, threads: int, repeat: int, between: Callable[[], None], worker_class: str = "gevent"
) -> tuple[list[float], int, int, int]:
    """Seconds per upload; the worker's peak RSS at start, after a tiny submission, and at the end.

    ``between`` runs after each upload (age's run, so that both see the same machine).
    """
    instance = _make_instance(root, size)
    times: list[float] = []
    with ServedInstance(instance, root / "server", workers=1, threads=threads, access_log=False,
                        worker_class=worker_class) as served:
        # A reader holding the body key (made on their machine), so reports can be read.
        add_reader(served, "integrity-office", "Bench")
        (worker,) = served.worker_pids()
        idle = peak_rss_bytes(worker)
        # A tiny submission first: lazy imports and Argon2id (codename key) once.
        _check(WebClient(served.url).submit("warm-up")[0], served)
        warm = peak_rss_bytes(worker)
        for _ in range(repeat):
            client = WebClient(served.url)
            # Steps 1 and 2 (routing questions, review) stay outside the timed part.
            review = client.post_form("/submit/review", {"csrf_token": client.csrf_token("/submit")})
            fields = content_form_fields(review.text)
            os.sync()  # no dirty pages left from the previous run to throttle this one
            started = time.perf_counter()
            response = client.post_multipart(
                "/submit",
                [*fields, ("message", "benchmark")],
                [Attachment("bench.bin", data)],
            )
            times.append(time.perf_counter() - started)
            _check(response, served)
            _forget_blobs(instance)
            between()
        peak = peak_rss_bytes(worker)
    return times, idle, warm, peak


def _forget_blobs(instance: Path) -> None:
    """Delete the stored ciphertext of the run that just ended (the instance is thrown away).

    age's output is deleted after each of its runs, so its next run writes into page
    cache that was just given back. Blobs left in place would make each upload write
    into memory the machine has not used yet, which costs several times more on a
    virtual machine (the host backs each new page on first touch): the two would not
    be measured alike.
    """
    for blob in (instance / "blobs").rglob("*"):
        if blob.is_file() and blob.parent.name != ".tmp":
            blob.unlink()


def _check(response: Response, served: ServedInstance) -> None:
    if response.status != 200 or 'id="codename"' not in response.text:
        sys.exit(f"the upload failed: HTTP {response.status}\n{response.text[:2000]}\n{served.log()[-3000:]}")


def age_runner(root: Path, data: Path) -> Callable[[], tuple[float, float]] | None:
    """A function that times one ``age -r`` run on ``data``; None without age.

    It returns two times: age's own, and age's followed by an fsync of its output.
    age leaves its output in the page cache; the server makes every blob durable
    before it answers (fsync, then rename), so the second time is the like-for-like
    comparison. The target compares with the first.
    """
    age, keygen = shutil.which("age"), shutil.which("age-keygen")
    if not age or not keygen:
        print("age is not installed: `sudo apt-get install age` (Debian/Ubuntu) or see https://age-encryption.org")
        return None
    key = root / "age.key"
    subprocess.run([keygen, "-o", str(key)], check=True, capture_output=True)  # noqa: S603
    recipient = subprocess.run([keygen, "-y", str(key)], check=True, capture_output=True, text=True).stdout.strip()  # noqa: S603
    out = root / "bench.bin.age"

    def run() -> tuple[float, float]:
        os.sync()
        started = time.perf_counter()
        subprocess.run([age, "-r", recipient, "-o", str(out), str(data)], check=True)  # noqa: S603
        elapsed = time.perf_counter() - started
        fd = os.open(out, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        durable = time.perf_counter() - started
        out.unlink()
        return elapsed, durable

    return run


class _Discard:
    """A file that forgets what is written to it."""

    def write(self, data: bytes) -> int:
        return len(data)


def bench_encryption_alone(size: int, repeat: int) -> list[float]:
    """Seconds for PartWriter to encrypt ``size`` bytes on one core, with no I/O at all.

    Format v1's secretstream chains its chunks (each nonce depends on the previous
    tag), so one attachment is encrypted on one core: no ingest can be faster than
    this, whatever the server does around it.
    """
    from parrhesia.crypto import PartWriter, new_report_keypair

    block = memoryview(os.urandom(MIB))
    key = bytes(new_report_keypair().public_key)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        writer = PartWriter(_Discard(), key, "bench", "part", {"kind": "attachment"})  # type: ignore[arg-type]
        for _ in range(size // MIB):
            writer.write(block)
        writer.close()
        times.append(time.perf_counter() - started)
    return times


def bench_floor(data: Path, size: int, encrypt: bool) -> float:
    """Seconds for a bare socket in this process to receive ``data`` from a loopback client.

    The client sends with ``sendfile`` from a thread (it holds no lock while sending),
    as the upload benchmark's client does. The server reads 1 MiB blocks with
    ``recv_into``; with ``encrypt``, each block goes through a bounded queue to a
    PartWriter on a second thread, as in the real server, and the ciphertext is
    discarded. Nothing is parsed or stored.
    """
    from parrhesia.crypto import PartWriter, new_report_keypair

    key = bytes(new_report_keypair().public_key)
    with socket.create_server(("127.0.0.1", 0)) as listener:

        def send() -> None:
            with socket.create_connection(listener.getsockname()) as client, open(data, "rb") as source:
                sent = 0
                while sent < size:
                    sent += os.sendfile(client.fileno(), source.fileno(), sent, size - sent)
                client.recv(1)  # the server's answer: everything arrived

        blocks: queue.Queue[bytearray | None] = queue.Queue(2)

        def encrypt_blocks() -> None:
            writer = PartWriter(_Discard(), key, "bench", "part", {"kind": "attachment"})  # type: ignore[arg-type]
            while (block := blocks.get()) is not None:
                writer.write(block)
            writer.close()

        # Daemon threads and a bounded accept: a client that fails cannot hang the benchmark.
        sender = threading.Thread(target=send, daemon=True)
        encrypter = threading.Thread(target=encrypt_blocks, daemon=True)
        listener.settimeout(60)
        started = time.perf_counter()
        sender.start()
        if encrypt:
            encrypter.start()
        connection, _ = listener.accept()
        with connection:
            left = size
            while left:
                block = bytearray(min(MIB, left))
                view, filled = memoryview(block), 0
                while filled < len(block):
                    received = connection.recv_into(view[filled:])
                    if not received:
                        sys.exit("the floor benchmark's client went away")
                    filled += received
                left -= filled
                if encrypt:
                    blocks.put(block)
            if encrypt:
                blocks.put(None)
                encrypter.join()
            connection.sendall(b"k")
        sender.join()
        return time.perf_counter() - started


def profile_parser(root: Path, data: Path, size: int) -> None:
    """cProfile of receive_submission in process, fed from the same file."""
    from flask import Flask

    from parrhesia.crypto import new_report_keypair
    from parrhesia.storage.blobs import BlobStore
    from parrhesia.upload import receive_submission

    boundary = "benchboundary0123456789"
    body = root / "body.multipart"
    with open(body, "wb") as handle:
        for piece in multipart_body(boundary, [("message", "benchmark")], [Attachment("bench.bin", _read(data), size=size)]):
            handle.write(piece)
    app = Flask("bench")
    app.config.update(SECRET_KEY="bench", WTF_CSRF_ENABLED=False)
    blobs = BlobStore(root / "profile-blobs")
    key = new_report_keypair()
    import parrhesia.upload.receiver as receiver

    original_init = receiver._Receiver.__init__

    def init(self: receiver._Receiver, *args: object) -> None:
        original_init(self, *args)  # type: ignore[arg-type]
        self.csrf_checked = True  # the profile is about parsing and encrypting, not CSRF

    receiver._Receiver.__init__ = init  # type: ignore[method-assign]
    with open(body, "rb") as stream:
        with app.test_request_context(
            "/submit",
            method="POST",
            input_stream=stream,
            content_type=f"multipart/form-data; boundary={boundary}",
            content_length=body.stat().st_size,
        ):
            from flask import request

            profiler = cProfile.Profile()
            started = time.perf_counter()
            profiler.enable()
            submission = receive_submission(
                request, blobs=blobs, report_id="bench", report_public_key=bytes(key.public_key), limit=2 * size
            )
            profiler.disable()
            elapsed = time.perf_counter() - started
    submission.discard()
    print(f"\nin-process receive_submission (under cProfile): {size / MIB / elapsed:.0f} MiB/s")
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(15)
    print(text.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mib", type=int, default=256, help="upload size in MiB (default 256)")
    parser.add_argument("--threads", type=int, default=4, help="threads of the one worker, with --worker-class gthread")
    parser.add_argument("--worker-class", choices=("gevent", "gthread"), default="gevent",
                        help="parrhesia serve --worker-class (default gevent, as serve)")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, the median is compared (default 5)")
    parser.add_argument("--profile", action="store_true", help="also profile the parser in process")
    args = parser.parse_args()
    size = args.mib * MIB

    with tempfile.TemporaryDirectory(prefix="parrhesia-bench-") as temp:
        root = Path(temp)
        (root / "passphrase").write_text("benchmark passphrase\n", encoding="utf-8")
        data = root / "bench.bin"
        _write_test_file(data, size)

        run_age = age_runner(root, data)
        age_times: list[float] | None = [] if run_age else None
        durable_age_times: list[float] = []

        def between() -> None:
            if run_age is not None and age_times is not None:
                plain, durable = run_age()
                age_times.append(plain)
                durable_age_times.append(durable)

        upload_times, idle, warm, peak = bench_upload(root, data, size, args.threads, args.repeat, between, args.worker_class)

        upload_s = statistics.median(upload_times)
        ingest = size / MIB / upload_s
        print(f"\nParrhesia ingest benchmark: {args.mib} MiB attachment over loopback, median of {args.repeat}")
        print(f"  parrhesia serve (gunicorn {args.worker_class}, 1 worker): {upload_s:6.2f} s  {ingest:7.1f} MiB/s"
              f"   (runs: {', '.join(f'{t:.2f}' for t in upload_times)} s)")
        if age_times:
            age_s = statistics.median(age_times)
            age_rate = size / MIB / age_s
            ratio = ingest / age_rate
            verdict = "meets" if ratio >= TARGET_RATIO else "BELOW"
            print(f"  age -r (same file):                           {age_s:6.2f} s  {age_rate:7.1f} MiB/s"
                  f"   (runs: {', '.join(f'{t:.2f}' for t in age_times)} s)")
            print(f"  ratio ingest / age: {ratio:.2f}x  ({verdict} the {TARGET_RATIO}x target)")
            durable_s = statistics.median(durable_age_times)
            print(f"  age -r, then fsync of its output:             {durable_s:6.2f} s  {size / MIB / durable_s:7.1f} MiB/s"
                  f"   (like for like: the server fsyncs every blob; ingest / this: {durable_s / upload_s:.2f}x)")
        verdict = "meets" if peak < TARGET_PEAK_MIB * MIB else "ABOVE"
        print(f"  worker peak RSS (VmHWM): {peak / MIB:.1f} MiB ({verdict} the {TARGET_PEAK_MIB} MiB target); "
              f"idle {idle / MIB:.1f} MiB, after a tiny submission {warm / MIB:.1f} MiB, "
              f"so the uploads added {(peak - warm) / MIB:.1f} MiB")
        alone = statistics.median(bench_encryption_alone(size, args.repeat))
        print(f"  encryption alone (PartWriter, one core, no I/O): {alone:6.2f} s  {size / MIB / alone:7.1f} MiB/s"
              "   (the ceiling for any ingest of one attachment"
              + (f": {(size / MIB / alone) / age_rate:.2f}x age)" if age_times else ")"))
        print("  the machine's floor: a bare socket in this process, same client, nothing parsed or stored:")
        for encrypt, label in ((False, "receiving only"), (True, "receiving + encrypting")):
            runs = []
            for _ in range(args.repeat):
                runs.append(bench_floor(data, size, encrypt))
                between()  # age again, so that the ratio compares runs made side by side
            floor_s = statistics.median(runs)
            ratio_text = ""
            if age_times:
                recent = statistics.median(age_times[-args.repeat :])
                ratio_text = f"  {recent / floor_s:.2f}x age"
            print(f"    {label:<24}{floor_s:6.2f} s  {size / MIB / floor_s:7.1f} MiB/s{ratio_text}"
                  f"   (runs: {', '.join(f'{t:.2f}' for t in runs)} s)")
        if args.profile:
            profile_parser(root, data, size)


if __name__ == "__main__":
    main()
