"""deploy/Containerfile builds with podman and the container serves the source pages
(issue 12 item 5), as deploy/README.md, "Container image: what has been tested", says.

The recipe is built as written, on its default base images (python:3.11-slim,
node:22-slim) when a registry gives them, and otherwise on local stand-ins made here
with mmdebstrap from Debian's mirror: Debian 12 with its Python 3.11 in a venv on PATH,
and Debian 12's Node.js and npm. The stand-ins trust the certificate authorities this
machine trusts (its egress proxy's), as the default images would trust the public ones.
Then: ``parrhesia init`` in a volume, the container started with the port published on
127.0.0.1, the landing and submission pages loaded with the app's own security headers
and no ``Server`` header naming gunicorn, the desk sending a visitor to its log-in, the
API refusing a request without a token, the desk's built scripts (libsodium, fflate)
served, and the image's process running as the unprivileged user, not root.

The runtime is Debian's runc with podman's open-file and process limits lowered to
what this VM allows (crun fails on both here); on a normal host neither is needed.
`make container` installs podman, runc and mmdebstrap.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CONTAINERFILE = ROOT / "deploy" / "Containerfile"
IMAGE = "localhost/parrhesia-test:latest"
MIRROR = "http://deb.debian.org/debian"
PATH = "/opt/python/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# This VM grants no CAP_SYS_RESOURCE: podman's defaults (1048576 open files) cannot be set.
LIMITS = ["--runtime", "runc", "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768"]
STANDINS = {
    # What the recipe needs of python:3.11-slim: python and pip on PATH, groupadd/useradd.
    "python": ("python3,python3-venv,ca-certificates,passwd", 'chroot "$1" python3 -m venv /opt/python',
               [f"ENV PATH={PATH}"]),
    # What it needs of node:22-slim: node and npm (npm ci with a version-3 lock file).
    "node": ("nodejs,npm,ca-certificates", "true", []),
}
DEFAULTS = {"python": "docker.io/library/python:3.11-slim", "node": "docker.io/library/node:22-slim"}


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"the container test needs {name}: run `make container` (apt-get install podman runc mmdebstrap)")
    return found


def _run(*command: str, timeout: float = 900, check: bool = True) -> subprocess.CompletedProcess[str]:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)  # noqa: S603
    print(f"{time.monotonic() - started:6.1f} s  {' '.join(command[:4])} …")
    if check and done.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def _base(kind: str, tmp: Path) -> str:
    """The default base image if a registry gives it, else the local stand-in (made once
    per recipe of it: podman keeps it between runs)."""
    podman = _tool("podman")
    if _run(podman, "pull", "--quiet", DEFAULTS[kind], timeout=120, check=False).returncode == 0:
        return DEFAULTS[kind]
    packages, hook, changes = STANDINS[kind]
    extra_cas = sorted(Path("/usr/local/share/ca-certificates").glob("*.crt"))
    recipe = "\n".join([packages, hook, *changes, *(p.read_text() for p in extra_cas)])
    tag = f"localhost/parrhesia-standin-{kind}:{hashlib.sha256(recipe.encode()).hexdigest()[:12]}"
    if _run(podman, "image", "exists", tag, check=False).returncode == 0:
        return tag
    rootfs = tmp / f"{kind}.tar"
    trust = ('mkdir -p "$1/usr/local/share/ca-certificates" && cp /usr/local/share/ca-certificates/*.crt '
             '"$1/usr/local/share/ca-certificates/" && chroot "$1" update-ca-certificates') if extra_cas else "true"
    _run(_tool("mmdebstrap"), "--quiet", "--variant=minbase", f"--include={packages}", f"--customize-hook={trust}",
         f"--customize-hook={hook}", "bookworm", str(rootfs), MIRROR)
    _run(podman, "import", *(arg for change in changes for arg in ("--change", change)), str(rootfs), tag)
    rootfs.unlink()
    return tag


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> str:
    podman = _tool("podman")
    tmp = tmp_path_factory.mktemp("container")
    bases = {kind: _base(kind, tmp) for kind in ("python", "node")}
    _run(podman, "build", *LIMITS, "--network", "host", "--build-arg", f"PYTHON_IMAGE={bases['python']}",
         "--build-arg", f"NODE_IMAGE={bases['node']}", "-t", IMAGE, "-f", str(CONTAINERFILE), str(ROOT), timeout=1500)
    return IMAGE


@pytest.fixture
def served(image: str) -> Iterator[str]:
    podman = _tool("podman")
    suffix = hashlib.sha256(str(time.time_ns()).encode()).hexdigest()[:8]
    volume, name = f"parrhesia-test-{suffix}", f"parrhesia-test-{suffix}"
    _run(podman, "volume", "create", volume)
    try:
        _run(podman, "run", "--rm", *LIMITS, "-v", f"{volume}:/var/lib/parrhesia", image,
             "parrhesia", "init", "--instance", "/var/lib/parrhesia", "--name", "Container test")
        port = _free_port()
        _run(podman, "run", "-d", "--name", name, *LIMITS, "-v", f"{volume}:/var/lib/parrhesia",
             "-p", f"127.0.0.1:{port}:8080", image)
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_for(url, name)
            yield url
        finally:
            _run(podman, "rm", "-f", "-t", "5", name, check=False)
    finally:
        _run(podman, "volume", "rm", "-f", volume, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _wait_for(url: str, name: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/", timeout=5):  # noqa: S310 - a local test server
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(1)
    logs = _run(_tool("podman"), "logs", name, check=False)
    pytest.fail(f"the container did not answer on {url}:\n{logs.stdout[-3000:]}\n{logs.stderr[-3000:]}")


def _get(url: str) -> tuple[int, dict[str, str], str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - a local test server
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers), refused.read().decode()


@pytest.mark.server
def test_the_image_serves_the_pages_with_the_apps_headers_and_its_desk_scripts(served: str) -> None:
    status, headers, page = _get(served + "/")
    assert status == 200 and "Container test" in page
    assert "default-src 'none'" in headers.get("Content-Security-Policy", ""), headers
    assert headers.get("X-Content-Type-Options") == "nosniff" and headers.get("Referrer-Policy") == "no-referrer"
    assert "Server" not in headers or "gunicorn" not in headers["Server"].lower(), headers
    status, _, _ = _get(served + "/submit")
    assert status == 200
    status, _, _ = _get(served + "/api/v1/reports")
    assert status == 401, "the API answered without a token"
    for script in ("libsodium-wrappers.js", "libsodium-sumo.js", "fflate.js"):
        status, _, _ = _get(f"{served}/static/vendor/{script}")
        assert status == 200, f"the desk's {script} was not built into the image"
    status, _, page = _get(served + "/desk/")
    assert status == 200 and 'name="login_name"' in page, "the desk did not send a visitor to its log-in"


@pytest.mark.server
def test_the_container_runs_as_the_parrhesia_user_not_root(image: str) -> None:
    who = _run(_tool("podman"), "run", "--rm", *LIMITS, image, "id", "-un")
    assert who.stdout.strip() == "parrhesia"
