# Two commands: `make run` serves lading on ./data; `make test` runs ruff, mypy, the docs build
# and the suite. `make check` is its fast tier (lint, types and the in-process tests, no
# server needed); `make interop` runs Tempest's and openstacksdk's image API tests against
# lading and Keystone.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin
DOCS_OUT ?= build/docs
# Tempest in a venv of its own: its pins (oslo.*, keystoneauth1) are not lading's. The
# openstacksdk whose functional tests make interop runs shares it (with oslotest, which its
# tests' base class needs; stestr and testtools come with Tempest).
INTEROP_VENV ?= .venv-interop
TEMPEST_VERSION ?= 47.0.0
OPENSTACKSDK_VERSION ?= 4.22.0
OSLOTEST_VERSION ?= 6.1.1
INTEROP_STAMP := $(INTEROP_VENV)/.installed-$(TEMPEST_VERSION)-sdk-$(OPENSTACKSDK_VERSION)

# Where make install-cli links the lading command: on the PATH of most login shells
# (Debian's ~/.profile adds it once it exists).
CLI_DIR ?= $(HOME)/.local/bin
CLI := $(abspath $(BIN))/lading

.PHONY: run install-cli check test container-test lint docs services interop bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Debian's bindings of librados and librbd (python3-rados, python3-rbd: the rbd store), built
# for its python3 and on no package index. These two modules, and nothing else of Debian's
# dist-packages, are linked into the venv; a venv of another Python ABI ignores the links.
CEPH_BINDINGS = /usr/lib/python3/dist-packages/rados.cpython-*.so /usr/lib/python3/dist-packages/rbd.cpython-*.so
LINK_CEPH_BINDINGS = site=$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("platlib"))'); \
	for binding in $(CEPH_BINDINGS); do [ ! -e "$$binding" ] || ln -sf "$$binding" "$$site/"; done

# Stamps: reinstall when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	@$(LINK_CEPH_BINDINGS)
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@$(LINK_CEPH_BINDINGS)
	touch $@ $(VENV)/.installed

# One line first: the CLI is in the venv, not on the PATH (docs/cli.md).
run: $(VENV)/.installed
	@echo "lading CLI: $(CLI) (or source $(VENV)/bin/activate; make install-cli links it into $(CLI_DIR))"
	$(BIN)/lading serve

# The lading command on the PATH, only when asked: a link in $(CLI_DIR) to this venv's,
# never over a file that is not a link (a lading installed otherwise).
install-cli: $(VENV)/.installed
	@mkdir -p "$(CLI_DIR)"
	@if [ -e "$(CLI_DIR)/lading" ] && [ ! -L "$(CLI_DIR)/lading" ]; then \
		echo "$(CLI_DIR)/lading exists and is not a link: left as it is"; exit 1; fi
	@ln -sfn "$(CLI)" "$(CLI_DIR)/lading"
	@echo "linked $(CLI_DIR)/lading to $(CLI)"
	@case ":$$PATH:" in *":$(CLI_DIR):"*) ;; \
		*) echo "$(CLI_DIR) is not on your PATH: add it, e.g. export PATH=\"$(CLI_DIR):\$$PATH\"";; esac

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests bench docs interop
	$(BIN)/ruff format --check src tests bench docs interop
	$(BIN)/mypy

# The documentation site, into $(DOCS_OUT). Read afresh (-E) every time, with warnings as
# errors, so that a broken link, anchor or code block fails, even in a page that did not change.
docs: $(VENV)/.installed-test
	$(BIN)/sphinx-build -E -W --keep-going -q -b html docs $(DOCS_OUT)

# The real servers some tests need (PostgreSQL, Swift, Keystone, Ceph); their tests skip,
# saying why, without them. Ceph's bindings are linked again: the start may install them.
services: $(VENV)/.installed
	@scripts/services.sh start || echo "services unavailable: their tests will be skipped"
	@$(LINK_CEPH_BINDINGS)

# Cores as the machine counts them (logical), not physical ones: xdist's auto counts
# physical cores through psutil, and a 2-vCPU VM whose vCPUs are one core's two threads
# got a single worker.
WORKERS := --numprocesses logical --maxprocesses 4
# Bytecode cached whatever the environment says (PYTHONDONTWRITEBYTECODE): without it each
# worker compiles and rewrites (pytest's asserts) every test module afresh, 13 s of
# collecting where 5 s do.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

# The fast tier: lint, types and every in-process test. It needs no server (none of
# scripts/services.sh, none started), no real client, and leaves out fuzzing, the soak and
# the few in-process tests that take seconds by design (heavy): the markers of
# tests/conftest.py, registered in pyproject.toml, say which tests those are.
CHECK_TIER := not (services or server or clients or fuzz or soak or kills or heavy)
# tests/clients, tests/resilience, the fuzzing and the soak hold no test of it: not even
# collected (importing them takes seconds per worker: schemathesis alone 2.6 s).
check: lint
	$(PYTEST) $(WORKERS) -m "$(CHECK_TIER)" \
		--ignore=tests/clients --ignore=tests/resilience --ignore=tests/container \
		--ignore=tests/api/test_fuzz.py --ignore=tests/test_soak.py

# The suite on every core, 4 at most; each worker starts its own servers and databases.
# tests/container is make container-test's.
test: lint docs services
	$(PYTEST) $(WORKERS) --ignore=tests/container

# The Containerfile built with buildah and run with podman (rootful), and the systemd unit
# started by systemd in a container: a first run on a machine makes a Debian base and
# installs every dependency (about 7 minutes), later runs reuse them (LADING_CONTAINER_CACHE,
# else ~/.cache/lading/container) and take about a minute and a half.
container-test: $(VENV)/.installed-test
	$(BIN)/pytest tests/container

$(INTEROP_STAMP):
	$(PYTHON) -m venv $(INTEROP_VENV)
	$(INTEROP_VENV)/bin/pip install --quiet --disable-pip-version-check \
		'tempest==$(TEMPEST_VERSION)' 'openstacksdk==$(OPENSTACKSDK_VERSION)' \
		'oslotest==$(OSLOTEST_VERSION)'
	touch $@

# Tempest's image API tests (tempest.api.image), then openstacksdk's functional image tests,
# against lading and the Keystone of scripts/services.sh, lading registered as Keystone's
# image service; the tests left out, and why, are in interop/skip-list.txt and
# interop/openstacksdk-skip-list.txt. Two workers each; about 5 minutes.
interop: $(VENV)/.installed $(INTEROP_STAMP)
	$(BIN)/python interop/run.py --tempest $(INTEROP_VENV)/bin/tempest --concurrency 2 \
		--openstacksdk $(INTEROP_VENV)/bin/python --sdk-concurrency 2

bench: $(VENV)/.installed-test
	$(BIN)/python bench/transfer.py
	$(BIN)/python bench/catalogue.py
	$(BIN)/python bench/keystone.py

clean:
	rm -rf $(VENV) $(INTEROP_VENV) .pytest_cache .mypy_cache .ruff_cache $(DOCS_OUT)
