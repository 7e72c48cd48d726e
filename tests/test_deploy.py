"""The production material in deploy/ agrees with the code and with itself."""

from __future__ import annotations

import configparser
import re
import runpy
from pathlib import Path

from gunicorn.config import Config

from parrhesia.web.server import gunicorn_options

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
IDENTIFYING_LOG_TOKENS = ("%(h)s", "%(a)s", "%(f)s")


def gunicorn_conf() -> dict[str, object]:
    return runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))


def systemd_service() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string((DEPLOY / "parrhesia.service").read_text(encoding="utf-8"))
    return parser


def service_bind() -> str:
    exec_start = systemd_service()["Service"]["ExecStart"]
    match = re.search(r"--bind[ =](\S+)", exec_start)
    assert match, "ExecStart should pass --bind"
    return match.group(1)


def test_gunicorn_conf_uses_the_same_options_as_parrhesia_serve() -> None:
    namespace = gunicorn_conf()
    expected = {k: v for k, v in gunicorn_options(service_bind()).items() if v is not None}
    assert {k: namespace[k] for k in expected} == expected


def test_gunicorn_conf_loads_into_gunicorns_config() -> None:
    config = Config()
    for name, value in gunicorn_conf().items():
        if name in config.settings:
            config.set(name, value)
    assert config.worker_class_str == "gevent"
    assert config.worker_connections == gunicorn_options("x")["worker_connections"]
    assert config.settings["access_log_format"].get() == gunicorn_options("x")["access_log_format"]


def test_gunicorn_access_log_has_no_address_user_agent_or_referrer() -> None:
    log_format = str(gunicorn_conf()["access_log_format"])
    for token in IDENTIFYING_LOG_TOKENS:
        assert token not in log_format
    assert not any(token in log_format for token in ("%(t)s", "%(r)s", "%({x-forwarded-for}i)s"))


def test_torrc_maps_port_80_of_both_onions_to_the_port_the_service_binds() -> None:
    lines = [line.split() for line in (DEPLOY / "torrc").read_text(encoding="utf-8").splitlines()]
    directives = [words for words in lines if words and not words[0].startswith("#")]
    ports = [words[1:] for words in directives if words[0] == "HiddenServicePort"]
    assert ports == [["80", service_bind()]] * 2  # the sources' onion and the desk's (test_tor.py)
    assert any(words[0] == "HiddenServiceDir" for words in directives)
    assert not any(words[0] in ("HiddenServiceNonAnonymousMode", "HiddenServiceSingleHopMode") for words in directives)


def test_systemd_unit_runs_parrhesia_serve_sandboxed() -> None:
    service = systemd_service()["Service"]
    assert re.search(r"(^|/)parrhesia serve\b", service["ExecStart"])
    assert "--instance /var/lib/parrhesia" in service["ExecStart"]
    assert service["User"] not in ("", "root")
    for setting, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "MemoryDenyWriteExecute": "yes",
        "LimitCORE": "0",
    }.items():
        assert service[setting] == value, setting
    assert "/var/lib/parrhesia" in service["ReadWritePaths"]


def test_container_image_gets_the_desk_libsodium_built_from_the_lock_file() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    stages = re.split(r"^FROM ", text, flags=re.M)[1:]
    # The base images are build arguments (tests/test_container.py passes stand-ins); by default, Node.js.
    assert re.search(r"^ARG NODE_IMAGE=node:\S+$", text, re.M)
    assert len(stages) == 2 and stages[0].startswith("${NODE_IMAGE}") and " AS desk-js" in stages[0].splitlines()[0]
    builder, image = stages
    assert "package-lock.json" in builder and "npm ci --ignore-scripts" in builder and "npm run build" in builder
    # build.mjs writes to ../static/vendor next to the js/ folder the stage works in.
    assert "WORKDIR /build/themes/default/js" in builder
    assert 'join(here, "..", "static", "vendor")' in (ROOT / "themes/default/js/build.mjs").read_text(encoding="utf-8")
    assert "COPY --from=desk-js /build/themes/default/static/vendor ./themes/default/static/vendor" in image
    assert not re.search(r"^COPY \.", image, re.M)  # never the whole build context


def test_container_builds_leave_local_state_out() -> None:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignored = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    for path in (".git", ".venv", "demo-instance", "instance", "themes/default/js/node_modules",
                 "themes/default/static/vendor"):
        assert path in ignored, path


def test_containerfile_runs_as_a_non_root_user_with_the_instance_in_a_volume() -> None:
    text = (DEPLOY / "Containerfile").read_text(encoding="utf-8")
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M) and re.search(r"^FROM \$\{PYTHON_IMAGE\}$", text, re.M)
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'^VOLUME \["/var/lib/parrhesia"\]$', text, re.M)
    assert '"parrhesia", "serve"' in text


def test_the_readmes_tor_folders_are_the_torrcs_onion_services() -> None:
    root = Path(__file__).resolve().parents[1] / "deploy"
    readme = (root / "README.md").read_text(encoding="utf-8")
    named = set(re.findall(r'^\w+_onion_dir = "([^"]+)"', readme, re.M))
    services = {line.split(None, 1)[1].strip().rstrip("/") for line in (root / "torrc").read_text().splitlines()
                if line.startswith("HiddenServiceDir")}
    assert named == services, (named, services)
