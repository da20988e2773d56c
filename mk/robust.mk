# Robustness checks (issue 7), included by the top-level Makefile.
#
#   make test-fuzz     every fuzz target for FUZZ_SECS seconds (default 25),
#                      CI's short mode; appended to EXTRA_TESTS
#   make fuzz-long     every target for 10 minutes (FUZZ_SECS=600), on demand;
#                      prints each target's executions per second
#   make fuzz-corpus   after a run, add to fuzz/corpus/<target>/ the inputs
#                      of the work corpus that add coverage (libFuzzer's
#                      -set_cover_merge=1: a minimal covering set), as
#                      seed-<hash> files
#
# The committed corpora are only read: each run works in a copy under
# target/fuzz-work/, and crashes land in fuzz/artifacts/<target>/ (ignored
# by git) with the reproducing command in the log. Needs the nightly
# toolchain and cargo-fuzz; both are installed here when missing (a fresh
# machine). The Rust-side robustness tests (tests/robust_*.rs) run in
# plain `cargo test`; the VM ones (tests/vm/t_robust*.sh) in the VM run.

robust_saved_default_goal := $(.DEFAULT_GOAL)

FUZZ_TARGETS ?= uci_parse ubus_args netlink_reply
FUZZ_SECS ?= 25
FUZZ_WORK ?= $(CURDIR)/target/fuzz-work
# libFuzzer options per target (input size bounds, dictionaries)
fuzz_opts_uci_parse = -max_len=4096 -dict=uci.dict
fuzz_opts_ubus_args = -max_len=4096
fuzz_opts_netlink_reply = -max_len=8192

.PHONY: test-fuzz fuzz-long fuzz-corpus fuzz-tools

fuzz-tools:
	@rustup toolchain list | grep -q '^nightly' || \
		rustup toolchain install nightly --profile minimal
	@cargo +nightly fuzz --version >/dev/null 2>&1 || \
		cargo install --locked cargo-fuzz

test-fuzz: fuzz-tools
	cd fuzz && cargo +nightly fuzz build
	@set -u; passed=0; failed=0; \
	for t in $(FUZZ_TARGETS); do \
		case $$t in \
			uci_parse) opts='$(fuzz_opts_uci_parse)';; \
			ubus_args) opts='$(fuzz_opts_ubus_args)';; \
			netlink_reply) opts='$(fuzz_opts_netlink_reply)';; \
			*) opts='';; \
		esac; \
		work=$(FUZZ_WORK)/$$t; mkdir -p $$work fuzz/artifacts/$$t; \
		log=$(FUZZ_WORK)/$$t.log; \
		if (cd fuzz && cargo +nightly fuzz run $$t $$work corpus/$$t -- \
				$$opts -max_total_time=$(FUZZ_SECS) -print_final_stats=1 \
				-artifact_prefix=artifacts/$$t/) >$$log 2>&1; then \
			passed=$$((passed + 1)); \
			runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $$log | tail -n1); \
			secs=$$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' $$log | tail -n1); \
			echo "ok - fuzz $$t: $$runs runs in $${secs}s ($$(( runs / (secs > 0 ? secs : 1) )) exec/s), 0 crashes"; \
		else \
			failed=$$((failed + 1)); \
			echo "not ok - fuzz $$t crashed or failed; log $$log:"; \
			grep -v '^#[0-9]' $$log | tail -n 60 | sed 's/^/#   /'; \
		fi; \
	done; \
	echo "fuzz: $$passed passed, $$failed failed"; \
	[ $$failed = 0 ]

fuzz-long:
	$(MAKE) $(foreach f,$(MAKEFILE_LIST),-f $(f)) test-fuzz FUZZ_SECS=600

# Only the targets whose corpora this file owns (uci_parse keeps its own).
FUZZ_CORPUS_TARGETS ?= ubus_args netlink_reply

fuzz-corpus: fuzz-tools
	@set -e; for t in $(FUZZ_CORPUS_TARGETS); do \
		work=$(FUZZ_WORK)/$$t; [ -d $$work ] || continue; \
		merged=$(FUZZ_WORK)/$$t.merged; rm -rf $$merged; mkdir -p $$merged; \
		cp fuzz/corpus/$$t/* $$merged/; \
		(cd fuzz && cargo +nightly fuzz run $$t $$merged $$work -- -set_cover_merge=1) \
			>$(FUZZ_WORK)/$$t.merge.log 2>&1; \
		for f in $$merged/*; do \
			case $$(basename "$$f") in seed-*) continue;; esac; \
			cp "$$f" fuzz/corpus/$$t/seed-$$(basename "$$f" | cut -c1-16); \
		done; \
		echo "fuzz/corpus/$$t: $$(ls fuzz/corpus/$$t | wc -l) inputs, $$(du -sk fuzz/corpus/$$t | cut -f1) KiB"; \
	done

EXTRA_TESTS += test-fuzz

.DEFAULT_GOAL := $(robust_saved_default_goal)
