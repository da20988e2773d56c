#!/bin/bash
# Runs inside the VM (tests/vm/run.sh boots it): every tests/vm/t_*.sh in one
# boot.  Logs go to $VM_OUT/logs (the host's out dir).  Env: T_ONLY=regex.
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
export REPO
export RUNNER_PRELUDE=$REPO/tests/vm/lib.sh
export RUNNER_CLEANUP=topo_down
export RUNNER_LOGDIR=${VM_OUT:-/tmp}/logs
export RUNNER_TIMEOUT=${RUNNER_TIMEOUT:-240}
. "$REPO/tests/vm/lib.sh"
. "$REPO/tests/vm/runner.sh"

echo "# kernel $(uname -r), $(nproc) CPUs, $(nft --version), $(iperf3 --version | head -n1)"
modprobe -a nf_tables nf_conntrack nf_flow_table nf_flow_table_inet nft_flow_offload ||
    echo "# WARNING: modprobe of the flowtable modules failed"
if [ -x "$NFTOFFLOAD" ]; then
    echo "# nftoffload: $NFTOFFLOAD ($("$NFTOFFLOAD" --version 2>&1 | head -n1))"
else
    echo "# nftoffload: $NFTOFFLOAD is MISSING; its tests will fail"
fi
start=$(date +%s)
run_tests "$REPO"/tests/vm/t_*.sh
rc=$?
echo "# VM tests took $(( $(date +%s) - start )) s"
exit $rc
