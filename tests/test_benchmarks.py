"""The benchmark scripts run and measure what they say they measure.

They print figures and are not timed tests (the machines are shared and noisy), so
nothing here looks at a time: it checks that `make bench` would print every figure,
and that the ingest benchmark's floor encrypts every byte when it says it encrypts,
and none when it says it only receives.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCHMARKS = Path(__file__).parent / "benchmarks"


@pytest.fixture(scope="module")
def bench_ingest() -> ModuleType:
    """The benchmark script, loaded as a module without putting its folder on sys.path."""
    spec = importlib.util.spec_from_file_location("bench_ingest", BENCHMARKS / "bench_ingest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

MIB = 1024 * 1024


class _CountingWriter:
    """Stands in for PartWriter: counts the bytes it is given."""

    made: list[_CountingWriter] = []

    def __init__(self, *args: object) -> None:
        self.written = 0
        self.closed = False
        _CountingWriter.made.append(self)

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def close(self) -> int:
        self.closed = True
        return self.written


@pytest.fixture
def counting_writer(monkeypatch: pytest.MonkeyPatch) -> type[_CountingWriter]:
    import parrhesia.crypto

    _CountingWriter.made = []
    monkeypatch.setattr(parrhesia.crypto, "PartWriter", _CountingWriter)
    return _CountingWriter


@pytest.mark.parametrize("size", [3 * MIB, 3 * MIB + 12345])
def test_the_floor_encrypts_every_byte_it_receives(
    bench_ingest: ModuleType, tmp_path: Path, counting_writer: type[_CountingWriter], size: int
) -> None:
    data = tmp_path / "data"
    data.write_bytes(bytes(range(256)) * (size // 256) + bytes(size % 256))

    seconds = bench_ingest.bench_floor(data, size, encrypt=True)

    assert seconds > 0
    (writer,) = counting_writer.made
    assert writer.written == size
    assert writer.closed


def test_the_floor_only_receives_when_told_not_to_encrypt(
    bench_ingest: ModuleType, tmp_path: Path, counting_writer: type[_CountingWriter]
) -> None:
    data = tmp_path / "data"
    data.write_bytes(b"x" * (2 * MIB))

    bench_ingest.bench_floor(data, 2 * MIB, encrypt=False)

    assert counting_writer.made == []



def _run_benchmark(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a benchmark script as `make bench` does; it must exit 0."""
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(BENCHMARKS / script), *args], capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done

@pytest.mark.server
def test_the_ingest_benchmark_prints_every_figure() -> None:
    done = _run_benchmark("bench_ingest.py", "--mib", "2", "--repeat", "1")
    for figure in (
        "parrhesia serve (gunicorn gevent, 1 worker)",
        "worker peak RSS (VmHWM)",
        "encryption alone (PartWriter, one core, no I/O)",
        "receiving only",
        "receiving + encrypting",
    ):
        assert figure in done.stdout, done.stdout
    if "age is not installed" not in done.stdout:
        assert "ratio ingest / age" in done.stdout
        assert "age -r, then fsync of its output" in done.stdout


@pytest.mark.server
def test_the_slow_sources_benchmark_prints_every_figure() -> None:
    done = _run_benchmark("bench_slow.py", "--uploads", "4", "--mib", "0.1", "--rate-kib", "256")
    for figure in (
        "page latency while the uploads are in flight: p50",
        "target: page p99 < 1 s",
        "uploads stored: 4 of 4 answered with a codename; the instance holds 4 new reports",
        "serving processes' peak memory",
        "target: serving processes < 300 MiB",
    ):
        assert figure in done.stdout, done.stdout


@pytest.mark.server
def test_the_flood_benchmark_prints_every_figure() -> None:
    # 30 junk reports in a few seconds are a flood for the defaults (20 forms a minute):
    # the junk sent at once is refused, and both sources wait what their forms ask.
    done = _run_benchmark("bench_flood.py", "--junk", "30", "--attackers", "3", "--sources", "2", "--spacing", "0.5")
    for figure in (
        "30 junk reports attempted",
        "junk answers by status: {200: ",
        "429: ",
        "legitimate stored: 2/2; lost: 0 (target 0) PASS",
        "legitimate final POST latency: p50",
        "legitimate sources waited",
    ):
        assert figure in done.stdout, done.stdout
