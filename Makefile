# Thin aliases: every target creates the virtual environment it needs.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

CHROMIUM ?= /usr/bin/chromium
# the console's font for Han characters outside the BMP (e.g. 𠈌 in a holder's name)
RARE_HAN_FONT ?= /usr/share/fonts/truetype/hanazono/HanaMinB.ttf

# SoftHSM2, the PKCS#11 token the tests and make bench keep keys in (certseal/hsm.py)
SOFTHSM_MODULE ?= /usr/lib/softhsm/libsofthsm2.so

# Debian packages, installed as root when missing. A fresh machine's daily apt run (or
# another install) may hold apt's locks for minutes: dpkg's, the lists' (update) and the
# downloads' (install). A step refused for any of them is tried again every 10 s, saying
# so, up to 10 minutes (apt's own DPkg::Lock::Timeout waits for dpkg's alone, silently);
# any other failure, or the last refusal, prints apt's words and stops. LC_ALL=C: apt's
# messages are matched in English whatever the user's LANGUAGE. (APT_GET, APT_TRIES and
# APT_WAIT_S are set otherwise by tests/kernel/test_makefile_packages.py alone.)
APT_GET ?= LC_ALL=C DEBIAN_FRONTEND=noninteractive apt-get -qq
APT_TRIES ?= 60
APT_WAIT_S ?= 10
apt_retry = for try in $$(seq $(APT_TRIES)); do \
	  out=$$($(APT_GET) $(1) 2>&1) && break; \
	  case "$$out" in *"Could not get lock"*) [ $$try -lt $(APT_TRIES) ] || { \
	      printf '%s\n' "$$out" "gave up after $(APT_TRIES) tries $(APT_WAIT_S) s apart waiting for apt's lock" >&2; exit 1; }; \
	    echo "waiting for another apt to let go of its lock"; sleep $(APT_WAIT_S);; \
	    *) printf '%s\n' "$$out" >&2; exit 1;; esac; \
	done
apt_install = $(call apt_retry,update); $(call apt_retry,install -y $(1))
# $(1): a shell test that the package is there; $(2): the Debian package; $(3): why
# certseal needs it. Installed as root; anyone else is told the command.
debian_package = $(1) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian's $(2): $(3)"; $(call apt_install,$(2)); \
	  else \
	    echo "certseal needs Debian's $(2) ($(3)): sudo apt-get install $(2)"; exit 1; \
	  fi; }

# bench-scale: the verifier index at 10,000,000 entries (about half an hour; not in bench)
.PHONY: bench-scale setup bytecode fonts browser poppler softhsm run test test-pure bench protos protos-check lint k8s-check mutation

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,embedded]'
	touch $(STAMP)

setup: $(STAMP)

# The project's own modules compiled once (compileall writes whatever the environment
# says): a machine that sets PYTHONDONTWRITEBYTECODE, as CI's does, had every service
# and CLI process compile each module it imports again, 0.1 to 0.15 s of CPU a process
# and about 600 processes a test run. __pycache__ is git-ignored. A speed-up only: a
# checkout it cannot write (mounted read-only, a __pycache__ a `sudo make` left) is
# run as before, Python skipping the bytecode it cannot write (atk47 F4).
# A Ctrl-C while it compiles ends it and its worker processes by the signal, quietly:
# Python's KeyboardInterrupt printed a traceback from each of them (trial50).
bytecode: setup
	$(PY) -c 'import compileall, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); sys.argv[0] = "compileall"; sys.exit(int(not compileall.main()))' -qq -j 0 certseal services tests bench examples deploy || true

# The counter console tests drive Debian's chromium; Playwright never downloads one.
# The console serves Debian's HanaMinB (fonts-hanazono) for rare Han characters.
browser: fonts
	@$(call debian_package,test -x $(CHROMIUM),chromium,the browser of the console tests)

# Poppler's pdfsig: tests/seal/test_field_pdfs.py checks docs/architecture.md's table of
# which PDF validators accept which seal suite against it.
poppler:
	@$(call debian_package,command -v pdfsig >/dev/null,poppler-utils,pdfsig for the seal tests)

# The console's font for Han characters outside the BMP (e.g. 𠈌), for make run and the
# console tests alike.
fonts:
	@$(call debian_package,test -f $(RARE_HAN_FONT),fonts-hanazono,the console's font for Han characters outside the BMP)

# Debian's softhsm2: a real PKCS#11 token for the tests and make bench (fresh tokens
# in a temporary SOFTHSM2_CONF directory each run; nothing system-wide is changed).
softhsm:
	@$(call debian_package,test -f $(SOFTHSM_MODULE),softhsm2,the PKCS#11 token of the tests)

# The embedded broker listens on BROKER_PORT (default 9092; a free port when taken).
run: setup fonts bytecode
	$(VENV)/bin/certseal run $(if $(BROKER_PORT),--broker-port $(BROKER_PORT))

# The suite runs in TEST_WORKERS pytest-xdist processes (a test file stays in one), each
# with its own embedded PostgreSQL and broker. Two workers left the cores idle while
# tests waited on processes and events; three keep both busy (vmstat: about 10 % idle),
# so on two cores three took 1,041 s where two took 1,236 s and a fourth gains nothing
# (1,064 s; README, "make test").
TEST_WORKERS ?= 3

test: setup bytecode browser poppler softhsm
	CHROMIUM=$(CHROMIUM) SOFTHSM2_MODULE=$(SOFTHSM_MODULE) $(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

# The pure tests alone (no PostgreSQL, broker or browser): a few seconds.
PURE_TESTS = tests/kernel/test_identifiers*.py tests/kernel/test_codes*.py \
	tests/kernel/test_hostile_codes.py \
	tests/kernel/test_crypto.py tests/kernel/test_indexkeys.py tests/kernel/test_timestamps_boundaries.py \
	tests/kernel/test_paging.py tests/kernel/test_der.py tests/kernel/test_jsontext.py tests/kernel/test_outside_input_edges.py tests/kernel/test_floor_plan.py tests/kernel/test_requests.py \
	tests/*/test_domain*.py
test-pure: setup
	$(PY) -m pytest -q -p no:cacheprovider --noconftest $(PURE_TESTS)

# Mutation testing of the pure domain modules ([tool.mutmut] in pyproject.toml; about
# 3 minutes). mutmut 3.8 asks for click >= 8.4.2 while faust-streaming pins click < 8.4,
# so it is installed without its click requirement (it runs on the click Faust needs).
# mutmut keeps results while the source is unchanged: start afresh every time.
mutation: setup
	$(PY) -m pip install --quiet --no-deps 'mutmut==3.8.1'
	$(PY) -m pip install --quiet 'libcst>=1.9' 'setproctitle>=1.3.7' 'textual>=1.0' 'coverage>=7.3'
	rm -rf mutants
	$(VENV)/bin/mutmut run
	$(VENV)/bin/mutmut results

bench-scale: setup
	$(PY) -m bench.scale_bench --entries 10000000

bench: setup browser softhsm
	$(PY) -m bench.issuer_bench
	$(PY) -m bench.pkcs11_bench
	$(PY) -m bench.verifier_bench
	$(PY) -m bench.index_bench
	$(PY) -m bench.group_bench
	$(PY) -m bench.seal_bench
	$(PY) -m bench.ofd_bench
	$(PY) -m bench.document_bench
	BENCH_DOCUMENT_FORMAT=ofd $(PY) -m bench.document_bench
	$(PY) -m bench.seal_offload_bench
	$(PY) -m bench.events_bench
	$(PY) -m bench.console_bench
	$(PY) -m bench.republish_bench
	$(PY) -m bench.usage_bench
	$(PY) -m bench.memory_bench
	$(PY) -m bench.idle_bench
	$(PY) -m bench.tlog_bench
	$(PY) -m bench.tsa_bench
	$(PY) -m bench.broker_bench
	$(PY) -m bench.server_model_bench
	$(PY) -m bench.tables

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
	$(PY) -m deploy.k8s_check
