# shellcheck shell=bash
# A tiny test runner, sourced by tests/vm/run-all.sh (inside the VM) and
# tests/host/run-all.sh (on the host).
#
# A test file t_*.sh either defines functions named test_* (each one is a
# test, run in definition order) or defines none (the whole file is a test).
# Every test runs in its own bash process, bounded by RUNNER_TIMEOUT seconds,
# after sourcing RUNNER_PRELUDE (a library) and the file.  Exit 0 = pass,
# 77 = skipped, anything else = fail.  Output: TAP-like `ok N - name` /
# `not ok N - name` lines, a test's `# ` lines always, its whole log on
# failure, and finally exactly `N passed, N failed` (CI's log reader counts
# that line).  After each test RUNNER_CLEANUP (a command) runs, if set.
#
# Env: RUNNER_PRELUDE, RUNNER_CLEANUP, RUNNER_TIMEOUT (default 300),
#      RUNNER_LOGDIR (default: a temp dir), T_ONLY (regex on test names).

# run_tests FILE... ; returns 0 only if no test failed
run_tests() {
    local logdir=${RUNNER_LOGDIR:-$(mktemp -d "${TMPDIR:-/tmp}/tests.XXXXXX")}
    local n=0 passed=0 failed=0 skipped=0 file fn name log rc t0 secs
    local -a failures=()
    mkdir -p "$logdir"
    for file in "$@"; do
        [ -f "$file" ] || { echo "runner: no such test file $file" >&2; failed=$((failed + 1)); continue; }
        local -a fns
        # shellcheck disable=SC2207  # function names have no spaces
        fns=($(sed -n 's/^\(test_[A-Za-z0-9_]*\)[[:space:]]*()[[:space:]]*{*.*$/\1/p' "$file"))
        [ ${#fns[@]} -gt 0 ] || fns=("")
        for fn in "${fns[@]}"; do
            name=$(basename "$file" .sh)${fn:+:${fn#test_}}
            if [ -n "${T_ONLY:-}" ] && ! [[ $name =~ $T_ONLY ]]; then continue; fi
            n=$((n + 1))
            log="$logdir/$(echo "$name" | tr ':/' '__').log"
            t0=$(date +%s)
            timeout -k 10 "${RUNNER_TIMEOUT:-300}" bash -c '
                [ -n "${RUNNER_PRELUDE:-}" ] && . "$RUNNER_PRELUDE"
                . "$1" || exit 1
                [ -z "$2" ] || "$2"' runner "$file" "$fn" </dev/null >"$log" 2>&1
            rc=$?
            secs=$(( $(date +%s) - t0 ))
            [ -n "${RUNNER_CLEANUP:-}" ] && eval "$RUNNER_CLEANUP" >>"$log" 2>&1
            if [ $rc = 0 ]; then
                passed=$((passed + 1))
                echo "ok $n - $name (${secs}s)"
                grep '^# ' "$log"
            elif [ $rc = 77 ]; then
                skipped=$((skipped + 1))
                echo "ok $n - $name # SKIP $(grep -m1 '^SKIP' "$log" | sed 's/^SKIP:* *//')"
            else
                failed=$((failed + 1)); failures+=("$name")
                [ $rc = 124 ] && echo "TIMEOUT after ${RUNNER_TIMEOUT:-300}s" >>"$log"
                echo "not ok $n - $name (${secs}s, rc=$rc)"
                sed 's/^/#   /' "$log"
            fi
        done
    done
    echo "1..$n"
    [ $skipped = 0 ] || echo "# $skipped skipped (counted as passed)"
    [ $failed = 0 ] || echo "# failed: ${failures[*]}"
    echo "$((passed + skipped)) passed, $failed failed"
    [ $failed = 0 ] && [ $n -gt 0 ]
}
