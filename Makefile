# Parrhesia: `make demo` starts a demo instance, `make test` runs the whole suite.
# Both create .venv and install what they need on a fresh machine with Python 3.11+.

PYTHON   ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
STAMP    := $(VENV)/.parrhesia-installed
INSTANCE ?= demo-instance
PORT     ?= 8080
PLUGINS  := $(wildcard plugins/*/pyproject.toml)

.PHONY: demo test bandit browser tor container bench dist clean

# The desk's libsodium comes from npm at build time, pinned and integrity-checked by
# themes/default/js/package-lock.json, and is copied to the (untracked) static/vendor/.
$(STAMP): pyproject.toml setup.py $(PLUGINS) themes/default/js/package-lock.json
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]' $(foreach p,$(PLUGINS),-e $(dir $(p)))
	cd themes/default/js && npm ci --ignore-scripts --no-audit --no-fund --silent && npm run --silent build
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/parrhesia demo --instance $(INSTANCE) --port $(PORT)

# The browser tests drive Debian's chromium with its chromedriver (no browser download).
browser:
	@if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then \
		echo "Installing chromium and chromium-driver for the browser tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq chromium chromium-driver >/dev/null; \
	fi

# The tor tests run Debian's tor offline on deploy/torrc (tests/test_tor.py).
tor:
	@if ! command -v tor >/dev/null; then \
		echo "Installing tor for the onion service tests"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq tor >/dev/null; \
	fi

# The container test builds deploy/Containerfile with Debian's podman, on runc, and on
# base images made with mmdebstrap when no registry gives the default ones
# (tests/test_container.py).
container:
	@if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v mmdebstrap >/dev/null; then \
		echo "Installing podman, runc and mmdebstrap for the container test"; \
		SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
		$$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq podman runc mmdebstrap >/dev/null; \
	fi

bandit: $(STAMP)
	$(BIN)/bandit -q -r core plugins -c pyproject.toml

# ruff: lint and import order; mypy: strict on the plugin contract and the domain core.
lint: $(STAMP)
	$(BIN)/ruff check core plugins tests
	$(BIN)/mypy

test: $(STAMP) browser tor container bandit lint
	$(BIN)/pytest

# Benchmarks print figures; they are not tests. The ingest benchmark compares with age;
# the slow-sources one holds 256 uploads at Tor speed while other clients load pages.
bench: $(STAMP)
	@command -v age >/dev/null || { SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); $$SUDO apt-get install -y -qq age >/dev/null; }
	$(BIN)/python tests/benchmarks/bench_routing.py
	$(BIN)/python tests/benchmarks/bench_ingest.py
	$(BIN)/python tests/benchmarks/bench_slow.py
	$(BIN)/python tests/benchmarks/bench_flood.py

# A wheel and an sdist in dist/ that carry themes/default, the desk's libsodium included.
# A leftover egg-info would add the files its SOURCES.txt lists to the sdist: start clean.
dist: $(STAMP)
	rm -rf dist core/parrhesia.egg-info
	$(BIN)/python -m build --outdir dist

clean:
	rm -rf $(VENV) $(INSTANCE) .pytest_cache dist
