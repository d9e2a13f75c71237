# Thin aliases: every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

CHROMIUM ?= /usr/bin/chromium

.PHONY: setup browser run test bench protos protos-check lint k8s-check

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

setup: $(STAMP)

# The counter console tests drive Debian's chromium; Playwright never downloads one.
browser:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's chromium for the console tests"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else \
	    echo "the console tests need Debian's chromium: sudo apt-get install chromium"; exit 1; \
	  fi; }

run: setup
	$(VENV)/bin/certseal run

test: setup browser
	CHROMIUM=$(CHROMIUM) $(PY) -m pytest $(PYTEST_ARGS)

bench: setup browser
	$(PY) -m bench.issuer_bench
	$(PY) -m bench.verifier_bench
	$(PY) -m bench.seal_bench
	$(PY) -m bench.events_bench
	$(PY) -m bench.console_bench

protos: setup
	$(PY) -m grpc_tools.protoc -Iprotos --python_out=. --pyi_out=. --grpc_python_out=. \
		$(wildcard protos/certseal/v1/*.proto)

protos-check: protos
	git diff --exit-code -- certseal/v1

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy certseal services examples deploy
	$(VENV)/bin/lint-imports --no-cache

# Render every overlay and validate it offline against Kubernetes' schemas and the code.
k8s-check: setup
	$(PY) deploy/k8s_check.py
