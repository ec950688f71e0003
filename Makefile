# Headrace — everything a fresh machine needs is reachable from `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# The real ml-metadata client pins protobuf<5, so its tests and benchmark use a venv of its own.
MLMD_PYTHON ?= python3.11
MLMD_VENV ?= .venv-mlmd
MLMD_INSTALLED := $(MLMD_VENV)/.installed-ml-metadata-1.17.1
PYTEST_WORKERS ?= 2
# The S3 server the artifact-store tests talk to, in a venv of its own: moto pins a
# python-dateutil that the kubernetes client in .venv does not accept.
MOTO_VENV ?= .venv-moto
MOTO_INSTALLED := $(MOTO_VENV)/.installed-moto-5

.PHONY: run install moto test test-fast lint databases browser bench clean protos mlmd-venv

$(INSTALLED): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-*
	touch $@

install: $(INSTALLED)

$(MOTO_INSTALLED):
	test -x $(MOTO_VENV)/bin/python || $(PYTHON) -m venv $(MOTO_VENV)
	$(MOTO_VENV)/bin/python -m pip install --quiet 'moto[server]>=5,<6'
	touch $@

## The moto S3 server used by the artifact-store tests (tests start it on a free port).
moto: $(MOTO_INSTALLED)

$(MLMD_INSTALLED):
	test -x $(MLMD_VENV)/bin/python || $(MLMD_PYTHON) -m venv $(MLMD_VENV)
	$(MLMD_VENV)/bin/python -m pip install --quiet 'ml-metadata==1.17.1'
	touch $@

## The ml-metadata client's own venv (Python 3.11), for the client tests and the benchmark.
mlmd-venv: $(MLMD_INSTALLED)

## Start Headrace on the embedded default (SQLite in ./.headrace), migrating first.
run: install
	$(BIN)/headrace serve

## Start the local PostgreSQL and MariaDB servers if they are down (storage tests use both).
databases:
	@pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null || \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start
	@mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 || \
	  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
	@for i in $$(seq 1 60); do \
	  pg_isready -q -h 127.0.0.1 -p 5432 && mariadb-admin -h 127.0.0.1 -u root ping >/dev/null 2>&1 && exit 0; \
	  sleep 0.5; done; echo "databases did not come up" >&2; exit 1

## Headless Chromium from Debian's packages for the web UI's browser tests (Playwright's own
## browser download needs the internet).
browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium; }

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

## The whole suite: lint, unit, integration on SQLite + MariaDB + PostgreSQL, end-to-end.
test: install moto mlmd-venv databases browser lint
	HEADRACE_TEST_DATABASES=sqlite,mariadb,postgresql $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist loadgroup

## Unit + SQLite integration, no end-to-end: for every commit (~2 min).
test-fast: install moto mlmd-venv
	HEADRACE_TEST_DATABASES=sqlite $(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) -m "not e2e and not slow"

## Regenerate the gRPC code of both services from their .proto files (commit the result).
protos: install
	$(BIN)/python -m api_server.grpc_api.codegen
	$(BIN)/python -m metadata_store.proto.generate

bench: install mlmd-venv browser
	$(BIN)/python bench/run_all.py
	$(BIN)/python bench/bench_ui.py


clean:
	rm -rf $(VENV) $(MOTO_VENV) $(MLMD_VENV) .headrace .pytest_cache .mypy_cache .ruff_cache
