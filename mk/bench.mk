# The benchmark (issue 6), included by the top-level Makefile.
#
#   make bench        boots the test VM once and measures the data path,
#                     control path, observation and footprint figures;
#                     writes bench/results/latest.{md,json,svg}. About
#                     30 minutes under TCG. Never fails on a figure.
#   make bench-smoke  one short repetition of every step (debug build, no
#                     cross builds), report in target/bench-smoke/; proves
#                     that the bench still runs. About 4 minutes.
#
# Needs what the VM tests need (tests/vm/mkvm.sh) plus ubusd from crates.io.

bench_saved_default_goal := $(.DEFAULT_GOAL)

.PHONY: bench bench-smoke

bench:
	bench/run.sh full

bench-smoke:
	bench/run.sh smoke

.DEFAULT_GOAL := $(bench_saved_default_goal)
