"""deploy/torrc with a real tor, and the client authorisation of the desk's onion.

tor runs offline here (``DisableNetwork 1``): at start-up it makes each service's keys
and ``hostname`` file and reads its ``authorized_clients/`` folder, all without a relay.
`make tor` installs it (Debian's package), as `make browser` does chromium.
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from nacl.public import PrivateKey

from parrhesia.cli import main

ROOT = Path(__file__).resolve().parents[1]
TORRC = ROOT / "deploy" / "torrc"
SERVICE_DIR = re.compile(r"^HiddenServiceDir /var/lib/tor/([\w-]+)/?$", re.M)
ONION = re.compile(r"[a-z2-7]{56}\.onion")
PUBLIC_SERVICE, DESK_SERVICE = "parrhesia", "parrhesia-desk"


def _tor() -> str:
    found = shutil.which("tor")
    if found is None:
        pytest.fail("the tor tests need tor: run `make tor` (apt-get install tor)")
    return found


def _decode(key: str) -> bytes:
    return base64.b32decode(key + "=" * (-len(key) % 8))


def _private_folder(path: Path) -> Path:
    path.mkdir(mode=0o700)
    return path


def _local_torrc(tmp_path: Path) -> tuple[Path, dict[str, Path]]:
    """deploy/torrc with its service folders moved under tmp_path, and a data folder."""
    text = TORRC.read_text(encoding="utf-8")
    services = {name: _private_folder(tmp_path / name) for name in SERVICE_DIR.findall(text)}
    text = SERVICE_DIR.sub(lambda m: f"HiddenServiceDir {services[m.group(1)]}/", text)
    torrc = tmp_path / "torrc"
    torrc.write_text(f"DataDirectory {_private_folder(tmp_path / 'data')}\nSocksPort 0\n{text}", encoding="utf-8")
    return torrc, services


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def service_dir(tmp_path: Path) -> Path:
    """A HiddenServiceDir as tor leaves it after its first start."""
    folder = _private_folder(tmp_path / "desk")
    (folder / "hostname").write_text("b" * 56 + ".onion\n")
    return folder


def _add(runner: CliRunner, folder: Path, name: str) -> tuple[int, str, str]:
    result = runner.invoke(main, ["onion", "client-auth", "add", "--dir", str(folder), "--name", name])
    return result.exit_code, result.stdout, result.stderr


# --- the torrc, checked and run by tor -----------------------------------------------


def test_deploy_torrc_is_valid_for_the_installed_tor(tmp_path: Path) -> None:
    torrc, _ = _local_torrc(tmp_path)
    done = subprocess.run(  # noqa: S603 - a fixed command line
        [_tor(), "--verify-config", "-f", str(torrc), "--defaults-torrc", os.devnull],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Configuration was valid" in done.stdout


def test_deploy_torrc_has_a_defended_public_onion_and_a_desk_onion_on_the_same_port() -> None:
    blocks = re.split(r"^(?=HiddenServiceDir )", TORRC.read_text(encoding="utf-8"), flags=re.M)[1:]
    services = {SERVICE_DIR.match(block).group(1): block for block in blocks}  # type: ignore[union-attr]
    assert list(services) == [PUBLIC_SERVICE, DESK_SERVICE]
    for block in services.values():
        assert re.search(r"^HiddenServicePort 80 127\.0\.0\.1:8080$", block, re.M)
    assert re.search(r"^HiddenServicePoWDefensesEnabled 1$", services[PUBLIC_SERVICE], re.M)
    assert re.search(r"^HiddenServiceEnableIntroDoSDefense 1$", services[PUBLIC_SERVICE], re.M)


@pytest.fixture
def tor_process(tmp_path: Path) -> Iterator[Callable[[], tuple[subprocess.Popen[bytes], dict[str, Path], Path]]]:
    """Start tor offline on the deploy torrc; stop it at the end of the test."""
    started: list[subprocess.Popen[bytes]] = []

    def start() -> tuple[subprocess.Popen[bytes], dict[str, Path], Path]:
        torrc, services = _local_torrc(tmp_path)
        log = tmp_path / "tor.log"
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [_tor(), "-f", str(torrc), "--defaults-torrc", os.devnull, "DisableNetwork", "1",
             "Log", f"info file {log}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process, services, log

    yield start
    for process in started:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_for(condition: Callable[[], bool], process: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if process.poll() is not None or time.monotonic() > deadline:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            pytest.fail(f"tor did not {what} (exit code {process.returncode}):\n{tail}")
        time.sleep(0.1)


def test_tor_makes_both_onions_and_loads_the_desk_clients_on_reload(
    tor_process: Callable[[], tuple[subprocess.Popen[bytes], dict[str, Path], Path]], runner: CliRunner
) -> None:
    process, services, log = tor_process()
    hostnames = [services[name] / "hostname" for name in (PUBLIC_SERVICE, DESK_SERVICE)]
    _wait_for(lambda: all(path.exists() and path.stat().st_size for path in hostnames), process, "write hostnames", log)
    public, desk = (path.read_text().strip() for path in hostnames)
    # In its main loop (signals handled) once it says it will not fetch, being offline.
    _wait_for(lambda: "Delaying directory fetches" in log.read_text(errors="replace"), process, "start", log)
    assert ONION.fullmatch(public) and ONION.fullmatch(desk) and public != desk

    code, printed, _ = _add(runner, services[DESK_SERVICE], "alice")
    assert code == 0
    assert printed.startswith(desk.removesuffix(".onion") + ":descriptor:x25519:")
    process.send_signal(signal.SIGHUP)  # what `systemctl reload tor` sends
    _wait_for(lambda: "Loaded a client authorization key file alice.auth" in log.read_text(errors="replace"),
              process, "load alice.auth", log)
    text = log.read_text(errors="replace")
    assert "Unknown format of client authorization file" not in text
    assert text.count("Service PoW defenses are enabled") >= 1
    assert process.poll() is None


# --- parrhesia onion client-auth -----------------------------------------------------


def test_client_auth_add_prints_the_private_half_of_the_authorised_key(runner: CliRunner, service_dir: Path) -> None:
    code, printed, said = _add(runner, service_dir, "alice")
    assert code == 0, said
    address, auth_type, key_type, private = printed.strip().split(":")
    assert (address, auth_type, key_type) == ("b" * 56, "descriptor", "x25519")
    assert printed.strip().splitlines() == [printed.strip()]  # only the line, for `> alice.auth_private`
    assert "systemctl reload tor" in said

    auth_file = service_dir / "authorized_clients" / "alice.auth"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(auth_file.parent.stat().st_mode) == 0o700
    kind, key, public = auth_file.read_text().strip().split(":")
    assert (kind, key) == ("descriptor", "x25519")
    assert re.fullmatch(r"[A-Z2-7]{52}", public) and re.fullmatch(r"[A-Z2-7]{52}", private)
    assert bytes(PrivateKey(_decode(private)).public_key) == _decode(public)


def test_client_auth_refuses_an_existing_name_and_keeps_its_key(runner: CliRunner, service_dir: Path) -> None:
    assert _add(runner, service_dir, "alice")[0] == 0
    before = (service_dir / "authorized_clients" / "alice.auth").read_text()
    code, printed, said = _add(runner, service_dir, "alice")
    assert code != 0 and "already exists" in said and printed == ""
    assert (service_dir / "authorized_clients" / "alice.auth").read_text() == before


@pytest.mark.parametrize("name", ["", "../alice", "alice.auth", "a b", "x" * 65, "ålice"])
def test_client_auth_refuses_bad_names(runner: CliRunner, service_dir: Path, name: str) -> None:
    code, printed, _ = _add(runner, service_dir, name)
    assert code != 0 and printed == ""
    assert not (service_dir / "authorized_clients").exists()


def test_client_auth_needs_the_hostname_tor_writes(runner: CliRunner, service_dir: Path) -> None:
    (service_dir / "hostname").unlink()
    code, printed, said = _add(runner, service_dir, "alice")
    assert code != 0 and "has tor started once" in said and printed == ""


def test_client_auth_list_and_remove(runner: CliRunner, service_dir: Path) -> None:
    for name in ("bob", "alice"):
        assert _add(runner, service_dir, name)[0] == 0
    listed = runner.invoke(main, ["onion", "client-auth", "list", "--dir", str(service_dir)])
    assert listed.stdout.splitlines() == ["alice", "bob"]

    removed = runner.invoke(main, ["onion", "client-auth", "remove", "--dir", str(service_dir), "--name", "bob"])
    assert removed.exit_code == 0 and "systemctl reload tor" in removed.stdout
    assert not (service_dir / "authorized_clients" / "bob.auth").exists()
    again = runner.invoke(main, ["onion", "client-auth", "remove", "--dir", str(service_dir), "--name", "bob"])
    assert again.exit_code != 0 and "No client named 'bob'" in again.stderr
    listed = runner.invoke(main, ["onion", "client-auth", "list", "--dir", str(service_dir)])
    assert listed.stdout.splitlines() == ["alice"]
