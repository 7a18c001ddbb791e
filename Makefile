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

.PHONY: all deps apt venv demo test test-unit fuzz bench load fresh-check goldens clean

all: test

deps: apt venv

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
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	@touch $@

demo: deps
	$(PY) examples/demo.py

# The fast tier: unit, golden, interpreter-vs-reference and target tests (about 15 minutes on 2 cores).
test: deps
	@$(PY) -m pytest -q -n 2 --dist loadfile -m "not slow" $(PYTEST_ARGS) tests; rc=$$?; \
	if [ $$rc = 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$rc

test-unit: venv
	$(PY) -m pytest -q -n 2 tests/unit

# Longer differential runs (more packets, more seeds).
fuzz: deps
	$(PY) -m pytest -q -n 2 -m slow tests

bench: deps
	$(PY) benchmarks/run.py

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
