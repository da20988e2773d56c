# nft-offload: top-level entry points.  CI runs `make test` (.ci/run).
#
#   make setup   install build/test dependencies (scripts/setup.sh; Debian 12, root)
#   make test    setup, fmt, clippy, cargo test, host tests, VM tests, $(EXTRA_TESTS)
#   make demo    boot the VM and show per-zone offloading with real traffic
#   make vm      build (or reuse) the test VM under .vm/ (NFTOFFLOAD_VM_DIR)
#   make vm-test the kernel end-to-end tests only (one VM boot; T_ONLY=regex)
#
# Every phase prints its duration; `make test` ends with a table of them.
# NFTOFFLOAD_SKIP_VM=1 skips the VM phases loudly (CI never sets it).
# Other parts of the project add mk/*.mk fragments: see mk/README.md.

SHELL := /bin/bash
.NOTPARALLEL:
.DEFAULT_GOAL := test

# cargo-installed tools (ubusd, ubus-client) live here on a fresh machine
export PATH := $(HOME)/.cargo/bin:$(PATH)

CARGO ?= cargo
NFTOFFLOAD ?= $(CURDIR)/target/debug/nftoffload
export NFTOFFLOAD
PHASE_LOG := $(CURDIR)/target/phase-times.txt

# Targets run at the end of `make test`; fragments append to it.
EXTRA_TESTS :=

-include mk/*.mk

# $(call phase,NAME,COMMAND): run COMMAND, say how long it took
define phase
	@s=$$(date +%s); echo "==> $(1)"; $(2); rc=$$?; \
	echo "==> $(1): $$(( $$(date +%s) - s )) s, $$( [ $$rc = 0 ] && echo ok || echo "FAILED (rc=$$rc)")"; \
	exit $$rc
endef

# `make test` runs these in order; fragments' EXTRA_TESTS come last.
TEST_PHASES = fmt-check clippy cargo-test build run-host-tests run-vm-tests $(EXTRA_TESTS)

.PHONY: test setup fmt-check clippy cargo-test build host-test run-host-tests vm vm-test run-vm-tests demo extra-tests

# Setup must work; after that every phase runs even if an earlier one failed,
# so one CI run reports every failure.  Exit status: non-zero if any failed.
# Ends with a table of phase durations (also in target/phase-times.txt).
test:
	@mkdir -p $(dir $(PHASE_LOG)); : > $(PHASE_LOG); start=$$(date +%s); \
	$(MAKE) --no-print-directory setup || exit 1; \
	failed=""; \
	for t in $(TEST_PHASES); do \
	    s=$$(date +%s); $(MAKE) --no-print-directory $$t; rc=$$?; \
	    printf '%-16s %5d s  %s\n' "$$t" "$$(( $$(date +%s) - s ))" \
	        "$$( [ $$rc = 0 ] && echo ok || echo "FAILED (rc=$$rc)")" >> $(PHASE_LOG); \
	    [ $$rc = 0 ] || failed="$$failed $$t"; \
	done; \
	echo "==> phase times"; cat $(PHASE_LOG); \
	echo "total (with setup): $$(( $$(date +%s) - start )) s"; \
	if [ -n "$$failed" ]; then echo "==> make test FAILED:$$failed"; exit 1; fi; \
	echo "==> make test passed"

setup:
	$(call phase,setup,scripts/setup.sh)

fmt-check:
	$(call phase,cargo fmt --check,$(CARGO) fmt --all -- --check)

clippy:
	$(call phase,cargo clippy,$(CARGO) clippy --all-targets -- -D warnings)

cargo-test:
	$(call phase,cargo test,$(CARGO) test)

build:
	$(call phase,cargo build (debug),$(CARGO) build --bin nftoffload)

host-test: build run-host-tests
run-host-tests:
	$(call phase,host tests,tests/host/run-all.sh)

vm:
	$(call phase,VM build,tests/vm/mkvm.sh >/dev/null)

vm-test: build run-vm-tests
# one boot for all VM tests; tests/vm/run.sh builds or reuses the VM itself
run-vm-tests:
	$(call phase,VM tests (one boot),tests/vm/run.sh)

# just the fragments' tests
extra-tests: $(EXTRA_TESTS)

demo: setup build
	$(call phase,demo,tests/vm/run.sh $(CURDIR)/tests/vm/demo.sh)
