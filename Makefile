# nicc: `make demo` runs the main job, `make test` the tests. Both install what they need.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
NICC := $(VENV)/bin/nicc
# Every Debian package the project uses, so that `make demo` / `make test` work on a bare Debian 12
# (debootstrap minbase + python3, git, make; `make fresh-check` proves it):
#   python3-venv ca-certificates   the virtual environment, pip over HTTPS
#   clang llvm libbpf-dev bpftool linux-libc-dev   XDP/eBPF;  libdpdk-dev dpdk gcc pkg-config   DPDK
#   libpcap-dev graphviz           captures, IR graphs
#   iproute2 procps util-linux     network namespaces, veth, sysctl, unshare (live tests)
#   netsniff-ng                    trafgen, the traffic generator of `make load`
APT_PKGS := python3-venv ca-certificates graphviz clang llvm libbpf-dev bpftool linux-libc-dev libdpdk-dev dpdk \
	libpcap-dev pkg-config iproute2 procps util-linux netsniff-ng gcc make
PYTEST_ARGS ?=
# The P4 toolchain (p4c, bmv2) the project keeps beside it; the bmv2 target finds it through NICC_P4_PREFIX.
P4_SHARED := $(abspath ../shared/p4)
export NICC_P4_PREFIX ?= $(if $(wildcard $(P4_SHARED)/bin/simple_switch),$(P4_SHARED))

.PHONY: all deps apt p4deps venv demo test test-unit fuzz slow bench bench-probe bench-replicate emulate load fresh-check goldens clean

all: test

deps: apt p4deps venv

# Debian runtime libraries of the P4 toolchain (its own idempotent script), when there is one.
p4deps:
	@if [ -n "$(NICC_P4_PREFIX)" ] && [ -x "$(NICC_P4_PREFIX)/install-deps.sh" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    conf=$$(mktemp); echo 'DPkg::Lock::Timeout "900";' > $$conf; \
	    APT_CONFIG=$$conf "$(NICC_P4_PREFIX)/install-deps.sh"; rc=$$?; rm -f $$conf; exit $$rc; \
	  else echo "warning: not root, cannot run $(NICC_P4_PREFIX)/install-deps.sh (bmv2 tests may skip)"; fi; \
	fi

# Checked on every run (dpkg -s is cheap), so a package added here reaches existing checkouts too.
apt:
	@missing=$$(for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing Debian packages: $$missing"; \
	    apt-get -o DPkg::Lock::Timeout=900 update -qq && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -qq $$missing >/dev/null; \
	  else echo "warning: not root, cannot install: $$missing (targets needing them will be skipped)"; fi; \
	fi

venv: $(VENV)/.pip-stamp
$(VENV)/.pip-stamp: pyproject.toml | apt
	@$(PY) -m pip --version >/dev/null 2>&1 || python3 -m venv --clear $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	@touch $@

demo: deps
	$(PY) examples/demo.py

# The fast tier: unit, golden, interpreter-vs-reference and target tests (about 15 minutes on 2 cores).
test: deps
	@$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow" $(PYTEST_ARGS) tests; rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

test-unit: venv
	$(PY) -m pytest -q -n 2 tests/unit

# Long differential runs: FUZZ_COUNT frames per pipeline per target (sharded over 2 processes, progress bars);
# bmv2 (simple_switch: a few thousand frames/s) gets FUZZ_BMV2_COUNT.
FUZZ_COUNT ?= 1000000
FUZZ_BMV2_COUNT ?= 100000
fuzz: deps
	$(PY) -m nicc.runtime.fuzz --count $(FUZZ_COUNT) --limit bmv2=$(FUZZ_BMV2_COUNT) --jobs 2

# The slow tests kept out of `make test`.
slow: deps
	$(PY) -m pytest -q -n 2 -m slow tests

bench: deps
	$(PY) benchmarks/run.py

# Whether E4's DPDK time follows the machine's caches or its ALU: the generated loop with ALU and
# pointer-chase probes between passes, for PROBE_SECONDS (percentiles and correlations on stdout).
PROBE_SECONDS ?= 20
bench-probe: deps
	$(PY) -m nicc.benchmarks.probe --seconds $(PROBE_SECONDS)

# DPDK replication rate on one core (issue 12: >= 5 M copies/s of a 128-byte message to 10 children),
# beside a copy-only floor; results in benchmarks/results/replicate.json.
bench-replicate: deps
	$(PY) -m nicc.benchmarks.replicate

# The dissemination tree emulated at full size (issue 12): 32 receivers, H = 2, 10,000 messages, 1% loss
# per link, one relay slowed by 2 ms; JSON on stdout.
emulate: deps
	$(NICC) emulate examples/market.py --receivers 32 --hedge 2 --messages 10000 --loss 0.01 --slow-relay 1 --json

# Live load: every example on XDP and on DPDK, attached to a veth pair in network namespaces, flooded
# by trafgen for LOAD_SECONDS; per-verdict counters must add up to what was sent (see README).
LOAD_SECONDS ?= 60
load: deps
	$(PY) -m nicc.runtime.load --seconds $(LOAD_SECONDS)

# The README's promise on a bare Debian 12: debootstrap a minimal root, clone this repository (HEAD)
# into it and run `make demo && make test` there (slow: 20-40 minutes; needs root). KEEP=1 keeps the root.
fresh-check:
	bash tools/fresh_check.sh

# Regenerate golden files; read the diff before committing.
goldens: venv
	UPDATE_GOLDENS=1 $(PY) -m pytest -q -k golden tests && git status --short tests/golden

clean:
	rm -rf build demo-out .pytest_cache
