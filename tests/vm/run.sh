#!/usr/bin/env bash
# Host side of the VM tests: build (or reuse) the VM, boot it once, run
# SCRIPT (default tests/vm/run-all.sh) inside, return its exit code.
# If the VM cannot be built or started, this FAILS, unless
# NFTOFFLOAD_SKIP_VM=1 is set explicitly (then it prints SKIPPED and exits 0).
# Env: VM_OUTDIR (default target/vm-out/<script name>), T_ONLY, NFTOFFLOAD,
#      and everything vmrun reads.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
script=${1:-$here/run-all.sh}
out=${VM_OUTDIR:-$repo/target/vm-out/$(basename "$script" .sh)}
# the tests bound themselves (RUNNER_TIMEOUT each); this only catches a hung VM
export VMTIMEOUT=${VMTIMEOUT:-2700}

vm_unavailable() {
    if [ "${NFTOFFLOAD_SKIP_VM:-}" = 1 ]; then
        echo "########################################################################"
        echo "### SKIPPED: VM tests ($(basename "$script")) NOT RUN: $1"
        echo "### (NFTOFFLOAD_SKIP_VM=1 is set; the kernel end-to-end tests were not run)"
        echo "########################################################################"
        exit 0
    fi
    echo "FAILED: the test VM could not run: $1" >&2
    echo "        (set NFTOFFLOAD_SKIP_VM=1 to skip the VM tests explicitly)" >&2
    exit 1
}

t0=$(date +%s)
"$here/mkvm.sh" >/dev/null || vm_unavailable "building the VM failed (tests/vm/mkvm.sh)"
t1=$(date +%s)
echo "== VM build: $((t1 - t0)) s"
VM_PASS_ENV="${VM_PASS_ENV:-} T_ONLY RUNNER_TIMEOUT CI" "$here/vmrun" "$script" "$out"
rc=$?
echo "== VM run: $(( $(date +%s) - t1 )) s (rc=$rc; console log and test logs in $out)"
[ $rc = 125 ] && vm_unavailable "the VM did not boot or did not report an exit code (see $out/console.log)"
exit $rc
