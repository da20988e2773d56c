# shellcheck shell=bash
# Helpers for tests/vm/t_daemon.sh (sourced after lib.sh): the real ubus
# broker and client (`ubusd`, `ubus-client` from crates.io), the netifd TEST
# DOUBLE (examples/netifd_double.rs: serves network.interface from a JSON
# file, re-read on SIGHUP; netifd itself cannot run here), and the daemon
# run in ns rt under a pseudo-terminal, so that it logs to stderr (it logs
# to syslog otherwise, and the VM has none) and the log lands in a file.
# Every process started here leaves a pid file in $T_TMP, which the
# runner's topo_down kills after each test.

DAEMON_CFG=$T_TMP/config
UBUS_SOCK=$T_TMP/ubus.sock
NETIFD_JSON=$T_TMP/netifd.json
DAEMON_LOG=$T_TMP/daemon.log
FIXTURES=$REPO/tests/fixtures/daemon/vm
NETIFD_DOUBLE=${NETIFD_DOUBLE:-$REPO/target/debug/examples/netifd_double}

# tool NAME : its path (PATH, then cargo's bin dirs: HOME may be unset in the VM)
tool() {
    local d
    command -v "$1" 2>/dev/null && return 0
    for d in "${HOME:-/root}/.cargo/bin" /root/.cargo/bin; do
        [ -x "$d/$1" ] && { echo "$d/$1"; return 0; }
    done
    return 1
}

# daemon_setup : tools checked (fail, never skip, when one is missing),
# topology up, firewall fixture in $DAEMON_CFG
daemon_setup() {
    need_nftoffload
    UBUSD=$(tool ubusd) || fail "ubusd is not installed (cargo install --locked ubusd ubus-client)"
    UBUS_CLIENT=$(tool ubus-client) || fail "ubus-client is not installed (cargo install --locked ubusd ubus-client)"
    command -v jq >/dev/null || fail "jq is not installed (apt-get install jq)"
    command -v script >/dev/null || fail "script (util-linux) is not installed"
    [ -x "$NETIFD_DOUBLE" ] || fail "the netifd test double is not built: cargo build --example netifd_double"
    # T_TMP is shared by the tests of one VM run: start from scratch
    rm -rf "$DAEMON_CFG" "$NETIFD_JSON" "$DAEMON_LOG" "$T_TMP"/notes*.jsonl
    topo_up
}

# daemon_config ZONE=MODE... : UCI files in $DAEMON_CFG (lan by network)
daemon_config() {
    write_config "$DAEMON_CFG" "$@"
    cp "$FIXTURES/firewall" "$DAEMON_CFG/firewall"
}

ubus() { "$UBUS_CLIENT" -s "$UBUS_SOCK" "$@"; }
# call METHOD [JSON] : ubus call nftoffload, reply on stdout, ubus status as exit code
call() {
    local args=${2:-'{}'}
    "$UBUS_CLIENT" -s "$UBUS_SOCK" -t 20 call nftoffload "$1" "$args"
}

ubusd_start() {
    rm -f "$UBUS_SOCK"
    "$UBUSD" -s "$UBUS_SOCK" >>"$T_TMP/ubusd.log" 2>&1 </dev/null &
    echo $! >"$T_TMP/ubusd.pid"
    wait_until 10 ubus ping >/dev/null 2>&1 || fail "ubusd did not come up"
}
ubusd_kill() {
    local pid
    pid=$(cat "$T_TMP/ubusd.pid" 2>/dev/null) || return 0
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$T_TMP/ubusd.pid"
}

# netifd_start : the netifd TEST DOUBLE, fed $NETIFD_JSON (from the fixture)
netifd_start() {
    [ -f "$NETIFD_JSON" ] || cp "$FIXTURES/netifd.json" "$NETIFD_JSON"
    "$NETIFD_DOUBLE" "$UBUS_SOCK" "$NETIFD_JSON" >>"$T_TMP/netifd.log" 2>&1 </dev/null &
    echo $! >"$T_TMP/netifd.pid"
    ubus -t 10 wait_for network.interface >/dev/null || fail "the netifd double did not register"
}
netifd_hup() { kill -HUP "$(cat "$T_TMP/netifd.pid")"; }

registered() { ubus list nftoffload 2>/dev/null | grep -q '"nftoffload"'; }

# daemon_start [BINARY] : `nftoffload daemon` in ns rt, through script(1)
# for a terminal. `ip netns exec` execs, so script's child IS the daemon:
# its pid goes to $T_TMP/daemon.pid ($DAEMON_PID), script's to
# daemon-script.pid (script -e exits with the daemon's exit code).
daemon_start() {
    local bin=${1:-$NFTOFFLOAD} spid
    script -qfec "exec ip netns exec rt $bin daemon --config-dir $DAEMON_CFG --ubus-socket $UBUS_SOCK" \
        "$DAEMON_LOG" </dev/null >/dev/null 2>&1 &
    spid=$!
    echo "$spid" >"$T_TMP/daemon-script.pid"
    wait_until 10 pgrep -P "$spid" >/dev/null || fail "the daemon did not start"
    DAEMON_PID=$(pgrep -P "$spid")
    echo "$DAEMON_PID" >"$T_TMP/daemon.pid"
    [ "$(cat "/proc/$DAEMON_PID/comm" 2>/dev/null)" = nftoffload ] ||
        fail "pid $DAEMON_PID is not the daemon: $(cat "/proc/$DAEMON_PID/cmdline" | tr '\0' ' ')"
    wait_until 20 registered || { daemon_log_show; fail "the daemon did not register on ubus"; }
}
daemon_alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }
# daemon_stop SIGNAL : send it and wait (bounded); the daemon's exit code in $DAEMON_RC
daemon_stop() {
    local spid
    spid=$(cat "$T_TMP/daemon-script.pid")
    kill -"$1" "$DAEMON_PID"
    wait_until 20 eval '! kill -0 '"$DAEMON_PID"' 2>/dev/null' || fail "the daemon did not exit on SIG$1 within 20 s"
    wait "$spid"
    DAEMON_RC=$?
    rm -f "$T_TMP/daemon.pid" "$T_TMP/daemon-script.pid"
}
daemon_log_show() { tr -d '\r' <"$DAEMON_LOG" 2>/dev/null | sed 's/^/#   daemon: /'; }

# --- status, via ubus ------------------------------------------------------------
status() { call status; }
# zone_field ZONE JQ-PATH : e.g. zone_field lan .offloaded.software
zone_field() { status | jq -r --arg z "$1" '.zones[] | select(.name == $z) | '"$2"; }

# flowtable_devices [TABLE] : our flowtable's devices, one per line, as nft
# (not the daemon) lists them; parsed in bash, as every process costs
# seconds under TCG on a busy host
flowtable_devices() {
    local out d
    out=$(in_rt nft list flowtable inet "${1:-nftoffload}" ft 2>/dev/null) || return 0
    if [[ $out =~ devices\ =\ \{([^}]*)\} ]] || [[ $out =~ devices\ =\ ([^[:space:]]+) ]]; then
        for d in ${BASH_REMATCH[1]//,/ }; do echo "$d"; done
    fi
}
flowtable_has() {
    local d
    for d in $(flowtable_devices "${2:-nftoffload}"); do [ "$d" = "$1" ] && return 0; done
    return 1
}
has_table() { in_rt nft list table inet "$1" >/dev/null 2>&1; }

# now_ms : monotonic-enough wall clock in ms (no fork: bash's EPOCHREALTIME)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }
# median N... : the middle value (lower middle for even counts)
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
figure() { echo "# FIGURE $1 $2 $3"; }
