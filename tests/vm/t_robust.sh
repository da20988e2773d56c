# shellcheck shell=bash
# Robustness in the VM kernel (issue 7): the daemon under faults, with the
# real ubusd, in the router namespace of tests/vm/lib.sh.
#
# Counts: the issue's figures by default; under CI=true smaller ones, since
# every round costs seconds under TCG; each can be set explicitly:
#   NFTOFFLOAD_ROBUST_KILLS   (50, CI 5)    SIGKILLs in the middle of an apply
#   NFTOFFLOAD_ROBUST_DELETES (100, CI 10)  deletions of our table (every 10th
#                                           a flush ruleset)
#   NFTOFFLOAD_ROBUST_CHURN   (1000, CI 60) create/delete cycles of a zone's veth
#   NFTOFFLOAD_ROBUST_FLOWS   (1000)        offloaded UDP flows behind `flows`
# (NFTOFFLOAD_* variables reach the VM.) The full figures, on demand:
#   T_ONLY=t_robust RUNNER_TIMEOUT=3600 VMTIMEOUT=7200 tests/vm/run.sh

UBUSD=$(command -v ubusd || echo /root/.cargo/bin/ubusd)

# count NAME FULL CI : $NFTOFFLOAD_ROBUST_NAME, else CI's or the full figure
count() {
    local v="NFTOFFLOAD_ROBUST_$1"
    if [ -n "${!v:-}" ]; then echo "${!v}"; elif [ "${CI:-}" = true ]; then echo "$3"; else echo "$2"; fi
}

rb_setup() {
    need_nftoffload
    [ -x "$UBUSD" ] || fail "ubusd not found (cargo install --locked ubusd)"
    topo_up
    CFG=$T_TMP/config
    SOCK=$T_TMP/ubus.sock
}

ubusd_up() {
    rm -f "$SOCK"
    "$UBUSD" -s "$SOCK" >/dev/null 2>&1 &
    echo $! >"$T_TMP/ubusd.pid"
    wait_until 5 test -S "$SOCK" || fail "ubusd did not come up"
}

# daemon_up : the daemon in ns rt, stderr on a pty (so it logs to
# $T_TMP/daemon.log rather than syslog); its pid in $T_TMP/daemon.pid.
daemon_up() {
    rm -f "$T_TMP/daemon.pid"
    script -qfec "echo \$\$ >$T_TMP/daemon.pid; exec ip netns exec rt $NFTOFFLOAD daemon --config-dir $CFG --ubus-socket $SOCK" \
        -a "$T_TMP/daemon.log" >/dev/null 2>&1 </dev/null &
    wait_until 10 daemon_registered || { daemon_log; fail "the daemon did not register on ubus"; }
}
daemon_pid() { cat "$T_TMP/daemon.pid" 2>/dev/null; }
daemon_alive() { kill -0 "$(daemon_pid)" 2>/dev/null; }
daemon_registered() { "$NFTOFFLOAD" status --ubus-socket "$SOCK" >/dev/null 2>&1; }
daemon_log() { sed 's/^/#   daemon: /' "$T_TMP/daemon.log" 2>/dev/null | tail -n 40; }
daemon_log_lines() { grep -c 'nftoffload' "$T_TMP/daemon.log" 2>/dev/null || echo 0; }
daemon_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(daemon_pid)/status"; }

# shape : every nftoffload* table, sorted, counters zeroed
shape() {
    local t
    for t in $(nftoffload_tables | sort); do
        in_rt nft list table inet "$t"
    done | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}
shape_is() { [ "$(shape)" = "$1" ]; }

broken_variants() {
    # name|file|printf format of its contents
    cat <<'EOF'
unterminated-quote|nftoffload|config zone\n\toption name 'lan'\n\toption mode 'software\n
duplicate-zone|nftoffload|config zone\n\toption name 'lan'\n\toption mode 'off'\n\nconfig zone\n\toption name 'lan'\n\toption mode 'software'\n
bad-mode|nftoffload|config zone\n\toption name 'lan'\n\toption mode 'turbo'\n
non-utf8|nftoffload|config zone\n\toption name 'l\377an'\n\toption mode 'off'\n
truncated|nftoffload|config globals 'globals'\n\toption enabled '1'\n\nconfig zone\n\toption name 'l
firewall-quote|firewall|config zone\n\toption name 'lan\n\tlist device 'lan0'\n
EOF
}

# 1. A config that does not parse applies nothing; the kernel keeps the
# last good state, via `nftoffload apply`, daemon SIGHUP and ubus reload.
test_broken_config_keeps_the_last_good_state() {
    rb_setup
    write_config "$CFG" lan=software wan=software guest=off
    apply_ok "$CFG"
    local good name file fmt bad rc n=0
    good=$(shape)
    [ -n "$good" ] || fail "no table after the good apply"
    while IFS='|' read -r name file fmt; do
        bad=$T_TMP/bad-$name
        cp -r "$CFG" "$bad"
        # shellcheck disable=SC2059  # the format is the file's content
        printf "$fmt" >"$bad/$file"
        nftoffload apply --config-dir "$bad" >"$T_TMP/bad.out" 2>&1
        rc=$?
        n=$((n + 1))
        [ $rc = 2 ] || { cat "$T_TMP/bad.out"; fail "$name: apply exited $rc, not 2"; }
        grep -q "$bad/$file:[0-9]*:" "$T_TMP/bad.out" || { cat "$T_TMP/bad.out"; fail "$name: no file:line in the error"; }
        grep -q 'nothing was applied' "$T_TMP/bad.out" || fail "$name: does not say nothing was applied"
        shape_is "$good" || fail "$name: the kernel changed after a refused apply"
    done < <(broken_variants)
    note "apply: $n broken configs refused, kernel unchanged"

    ubusd_up
    daemon_up
    wait_until 10 shape_is "$good" || fail "the daemon changed the good state at start"
    local pid
    pid=$(daemon_pid)
    n=0
    while IFS='|' read -r name file fmt; do
        write_config "$CFG" lan=software wan=software guest=off
        # shellcheck disable=SC2059
        printf "$fmt" >"$CFG/$file"
        kill -HUP "$pid"
        sleep 0.5
        daemon_alive || { daemon_log; fail "$name: the daemon died on SIGHUP with a broken config"; }
        shape_is "$good" || { daemon_log; fail "$name: SIGHUP with a broken config changed the kernel"; }
        if "$NFTOFFLOAD" reload --ubus-socket "$SOCK" >"$T_TMP/reload.out" 2>&1; then
            fail "$name: ubus reload of a broken config succeeded"
        fi
        shape_is "$good" || fail "$name: ubus reload with a broken config changed the kernel"
        n=$((n + 1))
    done < <(broken_variants)
    grep -q "$CFG/nftoffload:[0-9]*:" "$T_TMP/daemon.log" || { daemon_log; fail "the daemon's log never named file:line"; }
    note "daemon: $n broken configs via SIGHUP and ubus reload, kernel unchanged"
    # and a good config is still taken
    write_config "$CFG" lan=software wan=software guest=software
    "$NFTOFFLOAD" reload --ubus-socket "$SOCK" >/dev/null 2>&1 || fail "reload of a good config failed"
    ! shape_is "$good" || fail "a good reload changed nothing"
    in_rt nft list table inet nftoffload | grep -q gst0 || fail "guest's device not offloaded after the good reload"
}

# 2. SIGKILL in the middle of an apply: the kernel holds the old or the
# new ruleset, never a mix, and the next start reconciles without errors.
test_sigkill_mid_apply_leaves_old_or_new() {
    rb_setup
    local A B i mode s setpid want kills sawA=0 sawB=0 errs
    kills=$(count KILLS 50 5)
    write_config "$CFG" lan=software wan=software guest=off
    apply_ok "$CFG"
    A=$(shape)
    write_config "$CFG" lan=software wan=software guest=software
    apply_ok "$CFG"
    B=$(shape)
    [ "$A" != "$B" ] || fail "the two rulesets are identical"
    ubusd_up
    for i in $(seq 1 "$kills"); do
        : >"$T_TMP/daemon.log"
        daemon_up
        mode=$(awk '/option name .guest./ { g = 1 } g && /option mode/ { gsub(/\047/, "", $3); print $3; exit }' "$CFG/nftoffload")
        if [ "$mode" = off ]; then want=$A; else want=$B; fi
        wait_until 10 shape_is "$want" || { daemon_log; fail "round $i: the start did not reconcile to guest=$mode"; }
        errs=$(grep -ci 'error' "$T_TMP/daemon.log")
        [ "$errs" = 0 ] || { daemon_log; fail "round $i: the start logged errors"; }
        if [ "$mode" = off ]; then mode=software; else mode=off; fi
        "$NFTOFFLOAD" set guest "$mode" --ubus-socket "$SOCK" >/dev/null 2>&1 &
        setpid=$!
        sleep "0.$(printf '%03d' $((RANDOM % 400)))"
        kill -9 "$(daemon_pid)"
        wait "$setpid"
        wait_until 5 sh -c "! kill -0 $(daemon_pid) 2>/dev/null" || fail "round $i: the daemon survived SIGKILL"
        s=$(shape)
        if [ "$s" = "$A" ]; then sawA=$((sawA + 1)); elif [ "$s" = "$B" ]; then sawB=$((sawB + 1)); else
            diff <(echo "$A") <(echo "$s") | head -n 20
            fail "round $i: after SIGKILL the kernel holds neither ruleset"
        fi
    done
    note "$kills SIGKILLs mid-apply: old/new ruleset A=$sawA B=$sawB times, never a mix; every restart reconciled without errors"
}

fw4_table() {
    in_rt nft -f - <<'EOF'
table inet fw4 {
	chain forward {
		type filter hook forward priority filter; policy accept;
		tcp dport 5202 drop
	}
}
EOF
}

# 3. Our table deleted (nft delete table / nft flush ruleset) is restored
# every time; another owner's table (inet fw4) is never touched.
test_deleted_table_is_restored_and_fw4_left_alone() {
    rb_setup
    local good i n fw4 flushes=0
    n=$(count DELETES 100 10)
    fw4_table || fail "fw4 table"
    write_config "$CFG" lan=software wan=software guest=software
    apply_ok "$CFG"
    good=$(shape)
    ubusd_up
    daemon_up
    wait_until 10 shape_is "$good" || fail "the daemon did not settle"
    for i in $(seq 1 "$n"); do
        if [ $((i % 10)) = 0 ]; then
            in_rt nft flush ruleset
            flushes=$((flushes + 1))
        else
            in_rt nft delete table inet nftoffload
        fi
        wait_until 5 shape_is "$good" || { daemon_log; fail "round $i: our table was not restored within 5 s"; }
        if [ $((i % 10)) = 0 ]; then
            ! in_rt nft list table inet fw4 >/dev/null 2>&1 || fail "round $i: the daemon recreated fw4's table"
            fw4_table || fail "fw4 table"
        fi
    done
    daemon_alive || fail "the daemon died"
    in_rt nft add rule inet fw4 forward tcp dport 5209 drop
    fw4=$(in_rt nft list table inet fw4)
    sleep 2
    [ "$(in_rt nft list table inet fw4)" = "$fw4" ] || fail "the daemon undid a change to fw4's table"
    shape_is "$good" || fail "our table changed after fw4's change"
    note "$n deletions ($flushes by flush ruleset) restored every time; fw4 never recreated nor undone"
}

# 4. Device churn: a zone's veth created and deleted many times while
# traffic runs: no leak, no log flood, and the flowtable ends correct.
test_device_churn_no_leak_no_flood() {
    rb_setup
    local n i j batch rss0 rss1 l0 l1 good t0
    n=$(count CHURN 1000 60)
    write_config "$CFG" lan=software wan=software guest=software
    apply_ok "$CFG"
    good=$(shape)
    ubusd_up
    daemon_up
    wait_until 10 shape_is "$good" || fail "the daemon did not settle"
    iperf_servers 5201
    iperf_bg lan 5201 900 40001
    wait_until 20 ct_offloaded tcp "$LAN_IP" 5201 40001 || { iperf_log 40001; fail "lan flow not offloaded"; }
    # settle the allocator with a few cycles first, then measure
    in_rt ip link del gst0
    in_rt ip link add gst0 type veth peer name eth0 netns guest
    in_rt ip link set gst0 up
    wait_until 10 shape_is "$good" || fail "not back after the first cycle"
    rss0=$(daemon_rss_kb) l0=$(daemon_log_lines) t0=$(date +%s)
    for ((i = 0; i < n; i += 10)); do
        batch=""
        for ((j = i; j < i + 10 && j < n; j++)); do
            batch+="link del gst0
link add gst0 type veth peer name eth0 netns guest
link set gst0 up
"
        done
        echo -n "$batch" | ip -n rt -batch - || fail "churn batch at cycle $i"
        sleep "0.$((RANDOM % 3))"
    done
    wait_until 20 shape_is "$good" || { diff <(echo "$good") <(shape) | head; daemon_log; fail "the flowtable did not end correct"; }
    rss1=$(daemon_rss_kb) l1=$(daemon_log_lines)
    daemon_alive || fail "the daemon died"
    iperf_alive() { kill -0 "$(cat "$T_TMP/iperf-c-$1.pid" 2>/dev/null)" 2>/dev/null; }
    iperf_alive 40001 || { iperf_log 40001; fail "the lan transfer died during the churn"; }
    ct_offloaded tcp "$LAN_IP" 5201 40001 || fail "the lan flow lost [OFFLOAD] during the churn"
    iperf_stop 40001
    note "$n churn cycles in $(( $(date +%s) - t0 )) s: daemon RSS $rss0 -> $rss1 KiB, $((l1 - l0)) log lines"
    [ "$rss1" -le $((rss0 + rss0 / 4 + 256)) ] || fail "RSS grew from $rss0 to $rss1 KiB over $n cycles"
    [ $((l1 - l0)) -le $((n * 4 + 20)) ] || fail "$((l1 - l0)) log lines for $n cycles: a log flood"
}

# 5. The largest reply: `flows {limit: 1000}` over many offloaded flows.
test_flows_limit_1000_reply() {
    rb_setup
    local n got bytes
    n=$(count FLOWS 1000 1000)
    write_config "$CFG" lan=software wan=software guest=off
    apply_ok "$CFG"
    ubusd_up
    daemon_up
    ip netns exec wan python3 -c '
import socket, select, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", 7007))
end = time.time() + 120
while time.time() < end:
    if select.select([s], [], [], 1)[0]:
        d, a = s.recvfrom(2048)
        s.sendto(d, a)
' &
    echo $! >"$T_TMP/echo.pid"
    sleep 1
    ip netns exec lan python3 -c "
import socket, sys
n = $n
socks = []
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(('0.0.0.0', 20000 + i))
    s.settimeout(2)
    socks.append(s)
ok = 0
for rnd in range(3):
    for i, s in enumerate(socks):
        s.sendto(b'x' * (100 + i % 50), ('$WAN_IP', 7007))
        try:
            s.recvfrom(2048)
            ok += rnd == 2
        except OSError:
            pass
print(ok)
" >"$T_TMP/udp.out" 2>&1 || { cat "$T_TMP/udp.out"; fail "the UDP client failed"; }
    note "UDP flows answered: $(cat "$T_TMP/udp.out")"
    "$NFTOFFLOAD" flows --limit 1000 --json --ubus-socket "$SOCK" >"$T_TMP/flows.json" 2>"$T_TMP/flows.err" ||
        { cat "$T_TMP/flows.err"; daemon_log; fail "flows --limit 1000 failed"; }
    got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["flows"]))' "$T_TMP/flows.json")
    bytes=$(wc -c <"$T_TMP/flows.json")
    note "flows {limit: 1000}: $got flows, $bytes bytes of JSON"
    [ "$got" -ge $((n * 9 / 10)) ] || fail "only $got of $n offloaded flows listed"
    "$NFTOFFLOAD" flows --limit 1001 --ubus-socket "$SOCK" >/dev/null 2>&1 && fail "limit 1001 accepted"
    daemon_alive || fail "the daemon died"
    daemon_registered || fail "the daemon stopped answering"
}
