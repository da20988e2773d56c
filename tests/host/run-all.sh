#!/usr/bin/env bash
# Host-only tests (no VM): every tests/host/*.sh but this file, through the
# same runner as the VM tests.  Needs root (network namespaces) and the debug
# binary ($NFTOFFLOAD, default target/debug/nftoffload).  Env: T_ONLY=regex.
set -u
here=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$here/../.." && pwd)
NFTOFFLOAD=${NFTOFFLOAD:-$REPO/target/debug/nftoffload}
export REPO NFTOFFLOAD
export RUNNER_TIMEOUT=${RUNNER_TIMEOUT:-60}
export RUNNER_LOGDIR=${RUNNER_LOGDIR:-$REPO/target/host-test-logs}
. "$REPO/tests/vm/runner.sh"
files=()
for f in "$here"/*.sh; do [ "$f" = "$here/run-all.sh" ] || files+=("$f"); done
run_tests "${files[@]}"
