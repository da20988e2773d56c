#!/usr/bin/env bash
# Host side of `make bench`: build, boot the test VM once with
# bench/vm-bench.sh, measure the binary sizes, render the report.
#
#   bench/run.sh [full|smoke]
#
# full   the static musl release binary, 3 rounds of everything; writes
#        bench/results/latest.{md,json,svg} (~20-30 min under TCG).
# smoke  the debug build, one short round of each step, sizes skipped;
#        writes target/bench-smoke/latest.* only. It proves that the bench
#        still runs; no figure can fail it.
# The exit code is non-zero only when a step could not run at all (build,
# VM, a tool or the daemon missing), never because of a figure.
#
# Env: BENCH_OUT (raw results, default target/bench-out/MODE), BENCH_RESULTS
#      (report dir), BENCH_SKIP_SIZES=1, NFTOFFLOAD_VM_DIR and the other
#      tests/vm/vmrun variables, BENCH_* of bench/vm-bench.sh to override
#      the mode's defaults.
set -euo pipefail
mode=${1:-full}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
cd "$repo"
out=${BENCH_OUT:-$repo/target/bench-out/$mode}
mkdir -p "$out"

musl=x86_64-unknown-linux-musl
case $mode in
    full)
        results=${BENCH_RESULTS:-$repo/bench/results}
        : "${BENCH_REPS:=7}" "${BENCH_SECS:=3}" "${BENCH_WARM:=2}" "${BENCH_TOGGLES:=200}" "${BENCH_HOTPLUG:=30}"
        : "${BENCH_SELFHEAL:=30}" "${BENCH_CT_LEVELS:=0 1000 10000 50000}" "${BENCH_STATUS_N:=21}"
        : "${BENCH_CLI_N:=3}" "${BENCH_IDLE_SECS:=10}"
        vmtimeout=3600
        if rustup target list --installed 2>/dev/null | grep -qx "$musl"; then
            # rust-lld links rustup's self-contained musl std: no cross C toolchain
            export CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_X86_64_UNKNOWN_LINUX_MUSL_LINKER:-rust-lld}
            cargo build --release --locked --target "$musl" --bin nftoffload --example bench_ctl
            bin=$repo/target/$musl/release
        else
            echo "bench: rustup target $musl is not installed; measuring the glibc release build" >&2
            echo "       (rustup target add $musl for the router's static binary)" >&2
            cargo build --release --locked --bin nftoffload --example bench_ctl
            bin=$repo/target/release
        fi
        ;;
    smoke)
        results=${BENCH_RESULTS:-$repo/target/bench-smoke}
        : "${BENCH_REPS:=1}" "${BENCH_SECS:=1}" "${BENCH_WARM:=1}" "${BENCH_TOGGLES:=10}" "${BENCH_HOTPLUG:=3}"
        : "${BENCH_SELFHEAL:=3}" "${BENCH_CT_LEVELS:=1000}" "${BENCH_STATUS_N:=3}"
        : "${BENCH_CLI_N:=1}" "${BENCH_IDLE_SECS:=2}"
        : "${BENCH_SKIP_SIZES:=1}"
        vmtimeout=600
        cargo build --locked --bin nftoffload --example bench_ctl
        bin=$repo/target/debug
        ;;
    *) echo "usage: bench/run.sh [full|smoke]" >&2; exit 2 ;;
esac
export BENCH_REPS BENCH_SECS BENCH_WARM BENCH_TOGGLES BENCH_HOTPLUG BENCH_SELFHEAL BENCH_CT_LEVELS \
    BENCH_STATUS_N BENCH_CLI_N BENCH_IDLE_SECS

t0=$(date +%s)
tests/vm/mkvm.sh >/dev/null
# The host is shared: its load is part of the context of every figure.
{
    echo "host_cpus $(nproc)"
    echo "host_load_before $(cut -d' ' -f1-3 /proc/loadavg)"
    dirty=$(git status --porcelain --untracked-files=no -- . ':!bench/results' 2>/dev/null)
    echo "commit $(git rev-parse --short HEAD 2>/dev/null)${dirty:+ (with uncommitted changes)}"
} >"$out/host.txt"
echo "bench: VM ready; running bench/vm-bench.sh ($mode)"
rc=0
NFTOFFLOAD=$bin/nftoffload VMTIMEOUT=${VMTIMEOUT:-$vmtimeout} \
    VM_PASS_ENV="${VM_PASS_ENV:-} BENCH_REPS BENCH_SECS BENCH_WARM BENCH_TOGGLES BENCH_HOTPLUG BENCH_SELFHEAL BENCH_CT_LEVELS BENCH_STATUS_N BENCH_CLI_N BENCH_IDLE_SECS" \
    tests/vm/vmrun -e "BENCH_CTL=$bin/examples/bench_ctl" bench/vm-bench.sh "$out" \
    >"$out/vmrun.log" 2>&1 || rc=$?
echo "host_load_after $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/host.txt"
grep -E '^(#|==|ERROR|FAIL|kernel|rss|wakeups)' "$out/vmrun.log" | grep -v '^# .*iperf3: ' || true
echo "bench: VM part took $(( $(date +%s) - t0 )) s (rc=$rc; console: $out/vmrun.log)"
if [ "$rc" = 125 ]; then
    echo "bench: the VM did not run; see $out/vmrun.log" >&2
    exit 1
fi

if [ "${BENCH_SKIP_SIZES:-}" = 1 ]; then
    : >"$out/sizes.txt"
else
    "$here/sizes.sh" "$out/sizes.txt" || rc=1
fi
python3 "$here/render.py" --raw "$out/bench" --sizes "$out/sizes.txt" --host "$out/host.txt" --mode "$mode" \
    --vm-env "${NFTOFFLOAD_VM_DIR:-$repo/.vm}/vm.env" --outdir "$results" || rc=1
echo "bench: report in $results/latest.md (total $(( $(date +%s) - t0 )) s)"
exit "$rc"
