#!/bin/bash
# The in-VM half of `make bench` (bench/run.sh boots the VM with this
# script). It measures; it never judges: no figure here can fail the run.
# Only a step that cannot run at all (a tool missing, the daemon not
# starting) is recorded as an error, and the exit code is then 1.
#
# Output, in $VM_OUT/bench (the host's out dir):
#   meta.txt          kernel, CPUs, tool versions, date
#   datapath.tsv      case rep proto pps mbps softirq_pct offloaded seconds
#                     slowpath_packets (counted by fw4's last rules)
#   *.us              one sample per line, microseconds (toggle, nftf,
#                     toggle_cli, hotplug, selfheal, status_N, status_cli_N,
#                     ctcount_N, conntrack_N)
#   footprint.txt     key value lines (rss_kib, wakeups_10s, ...)
#   errors.txt        steps that could not run
#   log.txt           everything the steps printed
#
# Env (bench/run.sh sets them; defaults are the full run):
#   BENCH_REPS (3)  BENCH_SECS (6)  BENCH_WARM (2)  BENCH_TOGGLES (200)  BENCH_HOTPLUG (30)
#   BENCH_SELFHEAL (30)  BENCH_CT_LEVELS ("0 1000 10000 50000")
#   BENCH_STATUS_N (20)  BENCH_CLI_N (3)  BENCH_IDLE_SECS (10)
#   NFTOFFLOAD (the binary)  BENCH_CTL (examples/bench_ctl)
#   For a partial run: BENCH_SECTIONS ("datapath control"), BENCH_CASES
#   (a_noruleset b_fw4 c_fw4_global d_perzone), BENCH_PROTOS ("udp tcp").
REPO=${REPO:-$(cd "$(dirname "$0")/.." && pwd)}
export REPO
. "$REPO/tests/vm/lib.sh"

REPS=${BENCH_REPS:-3}
SECS=${BENCH_SECS:-6}
WARM=${BENCH_WARM:-2}
TOGGLES=${BENCH_TOGGLES:-200}
HOTPLUG=${BENCH_HOTPLUG:-30}
SELFHEAL=${BENCH_SELFHEAL:-30}
CT_LEVELS=${BENCH_CT_LEVELS:-0 1000 10000 50000}
STATUS_N=${BENCH_STATUS_N:-20}
CLI_N=${BENCH_CLI_N:-3}
IDLE_SECS=${BENCH_IDLE_SECS:-10}
BENCH_CTL=${BENCH_CTL:-$REPO/target/release/examples/bench_ctl}
OUT=${VM_OUT:-/tmp}/bench
SOCK=$T_TMP/ubus.sock
CFG=$T_TMP/config
rm -rf "$OUT"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1

# A failed step is recorded and the run goes on with the next section.
errors=0
err() { echo "ERROR: $*"; echo "$*" >>"$OUT/errors.txt"; errors=$((errors + 1)); }
# fail() from lib.sh exits; sections run in subshells so that it ends only them.
section() {
    local name=$1 t0=$SECONDS
    shift
    echo "== $name"
    ( "$@" ) || err "section $name failed (exit $?)"
    echo "== $name took $((SECONDS - t0)) s"
}
now_us() { local t=${EPOCHREALTIME/./}; echo "$t"; }

ubusd_bin=$(command -v ubusd || echo /root/.cargo/bin/ubusd)

# --- meta ---------------------------------------------------------------------------
{
    echo "kernel $(uname -r)"
    echo "cpus $(nproc)"
    echo "cpu_model $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1)"
    echo "mem_mib $(( $(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo) / 1024 ))"
    echo "nft $(nft --version)"
    echo "iperf3 $(iperf3 --version | head -n1)"
    echo "conntrack $(conntrack --version 2>&1 | head -n1)"
    echo "nftoffload $NFTOFFLOAD ($("$NFTOFFLOAD" --version 2>&1 | head -n1))"
    echo "nftoffload_file $(file -b "$NFTOFFLOAD" 2>/dev/null | cut -d, -f1-2)"
    echo "date $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "reps $REPS"
    echo "secs $SECS"
    echo "warm $WARM"
} >"$OUT/meta.txt"
cat "$OUT/meta.txt"
modprobe -a nf_tables nf_conntrack nf_conntrack_netlink nf_flow_table nf_flow_table_inet \
    nft_flow_offload dummy 2>/dev/null || echo "# modprobe of some modules failed"
for t in "$NFTOFFLOAD" "$BENCH_CTL" "$ubusd_bin"; do
    [ -x "$t" ] || { err "missing $t"; exit 1; }
done
for t in iperf3 nft conntrack ethtool taskset; do
    command -v "$t" >/dev/null || { err "missing tool $t"; exit 1; }
done

# --- rulesets -----------------------------------------------------------------------
# fw4_ruleset [offload] : a fw4-like `table inet fw4` whose forward chain has
# 200 rules: 196 user/zone rules that forwarded lan->wan traffic never
# matches (as fw4 renders port, subnet and interface rules), then
# `ct state established,related accept` near the end, then the zone
# accepts. Those last rules count packets (fw4's do not; a counter costs a
# few instructions per packet in every setup alike), which tells how many
# packets took the slow path in each run. With "offload": fw4's global
# offload, a flowtable on every zone device and
# `meta l4proto { tcp, udp } flow offload @ft` first in the chain.
fw4_ruleset() {
    local i
    echo "table inet fw4"
    echo "delete table inet fw4"
    echo "table inet fw4 {"
    if [ "${1:-}" = offload ]; then
        printf '\tflowtable ft {\n\t\thook ingress priority 0;\n\t\tdevices = { "gst0", "lan0", "wan0" };\n\t\tcounter;\n\t}\n'
    fi
    printf '\tchain forward {\n\t\ttype filter hook forward priority filter; policy drop;\n'
    [ "${1:-}" = offload ] && printf '\t\tmeta l4proto { tcp, udp } flow offload @ft;\n'
    for i in $(seq 0 48); do
        printf '\t\tiifname "vlan%d" oifname "wan0" meta l4proto tcp tcp dport %d counter accept comment "!fw4: rule a%d"\n' \
            "$i" $((1000 + i)) "$i"
        printf '\t\tmeta nfproto ipv4 ip saddr 192.168.%d.0/24 ip daddr 172.16.%d.1 tcp dport %d counter drop comment "!fw4: rule b%d"\n' \
            "$i" "$i" $((2000 + i)) "$i"
        printf '\t\tmeta nfproto ipv6 ip6 saddr fd00:%x::/64 udp dport %d counter accept comment "!fw4: rule c%d"\n' \
            "$i" $((3000 + i)) "$i"
        printf '\t\tip daddr 10.100.%d.0/24 meta l4proto udp udp dport %d counter drop comment "!fw4: rule d%d"\n' \
            "$i" $((4000 + i)) "$i"
    done
    printf '\t\tct state established,related counter accept comment "!fw4: Allow forwarded established and related flows"\n'
    printf '\t\tiifname "lan0" oifname "wan0" counter accept comment "!fw4: lan to wan"\n'
    printf '\t\tiifname "gst0" oifname "wan0" counter accept comment "!fw4: guest to wan"\n'
    printf '\t\tiifname "wan0" ct status dnat counter accept comment "!fw4: port forwards"\n'
    printf '\t}\n}\n'
}
fw4_rules_count() { in_rt nft -a list chain inet fw4 forward | grep -c '# handle'; }

# bench_config ZONE=MODE... : UCI files in $CFG: zones lan/guest/wan (lib.sh)
# plus iot on the dummy device iot0 (for the hotplug figure).
bench_config() {
    write_config "$CFG" "$@"
    printf "\nconfig zone\n\toption name 'iot'\n\tlist device 'iot0'\n" >>"$CFG/firewall"
}

set_case() {
    in_rt nft flush ruleset
    in_rt conntrack -F >/dev/null 2>&1
    case $1 in
        a_noruleset) ;;
        b_fw4) fw4_ruleset | in_rt nft -f - || fail "loading the fw4-like ruleset" ;;
        c_fw4_global) fw4_ruleset offload | in_rt nft -f - || fail "loading fw4 with global offload" ;;
        d_perzone)
            fw4_ruleset | in_rt nft -f - || fail "loading the fw4-like ruleset"
            bench_config lan=software wan=software guest=off
            in_rt "$NFTOFFLOAD" apply --config-dir "$CFG" >"$T_TMP/apply.out" 2>&1 ||
                { cat "$T_TMP/apply.out"; fail "nftoffload apply"; }
            ;;
    esac
}

# --- 1. data path ---------------------------------------------------------------------
# Under TCG a saturated guest leaves a shell seconds behind (every process
# spawn waits for a CPU), so the samples are taken by a SCHED_FIFO bash in
# the router namespace that spawns nothing but `sleep` between its two
# samples: time, /proc/stat's cpu line, and wan0's tx counters (what the
# router forwarded). It then saves the router's conntrack table, while the
# client is still sending, to check that the flow was (or was not) offloaded.
sampler() { # WARM SECS PROTO OUTFILE
    local a
    sleep "$1"
    a="$EPOCHREALTIME $(</proc/stat)"
    echo "${a%%$'\n'*} $(</sys/class/net/wan0/statistics/tx_packets) $(</sys/class/net/wan0/statistics/tx_bytes)" >"$4"
    sleep "$2"
    a="$EPOCHREALTIME $(</proc/stat)"
    echo "${a%%$'\n'*} $(</sys/class/net/wan0/statistics/tx_packets) $(</sys/class/net/wan0/statistics/tx_bytes)" >>"$4"
    conntrack -L -p "$3" >"$4.ct" 2>/dev/null
}

# one_run CASE REP PROTO : a client on CPU0 (ns lan) against the server on
# CPU1 (ns wan); after WARM s of warm-up, SECS seconds are sampled.
one_run() {
    local case=$1 rep=$2 proto=$3 cport=$((41000 + RANDOM % 20000)) args pid spid
    local smp=$T_TMP/sample off=0 slow1 slow2
    [ "$proto" = udp ] && args="-u -l 64 -b 0" || args="-l 128K"
    rm -f "$smp" "$smp.ct"
    slow1=$(table_packets inet fw4)
    # shellcheck disable=SC2086
    timeout -k 5 $((SECS + 60)) ip netns exec lan taskset -c 0 \
        iperf3 -c "$WAN_IP" -p 5201 -t $((WARM + SECS + 3)) --cport "$cport" --connect-timeout 5000 $args \
        >"$T_TMP/iperf.log" 2>&1 &
    pid=$!
    ip netns exec rt chrt -f 50 bash -c "$(declare -f sampler); sampler $WARM $SECS $proto $smp" &
    spid=$!
    wait "$spid"
    wait "$pid" || { cat "$T_TMP/iperf.log"; echo "# iperf3 client exited non-zero ($case $proto)"; }
    slow2=$(table_packets inet fw4)
    [ "$(wc -l <"$smp" 2>/dev/null)" = 2 ] || { echo "# no samples for $case $proto"; return 0; }
    awk -v s=src="$LAN_IP" -v p="sport=$cport" '$0 ~ s" " && $0 ~ p" " && /\[(HW_)?OFFLOAD\]/ { f = 1 } END { exit !f }' \
        "$smp.ct" && off=1
    # fields: time, "cpu", user nice system idle iowait irq softirq steal guest guest_nice, tx_packets, tx_bytes
    awk -v c="$case" -v r="$rep" -v pr="$proto" -v o="$off" -v sl=$((slow2 - slow1)) '
        { t[NR] = $1; tot = 0; for (i = 3; i <= 10; i++) tot += $i; j[NR] = tot; si[NR] = $9; pk[NR] = $(NF - 1); by[NR] = $NF }
        END {
            s = t[2] - t[1]
            printf "%s\t%s\t%s\t%.0f\t%.2f\t%.1f\t%s\t%.3f\t%s\n", c, r, pr, (pk[2] - pk[1]) / s,
                (by[2] - by[1]) * 8 / s / 1e6, (j[2] > j[1]) ? 100 * (si[2] - si[1]) / (j[2] - j[1]) : 0, o, s, sl
        }' "$smp" | tee -a "$OUT/datapath.tsv" | sed 's/^/# /'
}

datapath() {
    local dev ns rep c
    topo_up
    for spec in rt:lan0 rt:gst0 rt:wan0 lan:eth0 guest:eth0 wan:eth0; do
        ns=${spec%%:*} dev=${spec#*:}
        ip netns exec "$ns" ethtool -K "$dev" gso off tso off gro off >/dev/null 2>&1 ||
            fail "ethtool -K $dev in $ns"
    done
    ip netns exec wan taskset -c 1 iperf3 -s -D -p 5201 --pidfile "$T_TMP/iperf3-s-5201.pid" >/dev/null ||
        fail "iperf3 server"
    wait_until 10 port_listening 5201 || fail "iperf3 server not listening"
    set_case b_fw4
    echo "# fw4-like forward chain: $(fw4_rules_count) rules"
    printf 'case\trep\tproto\tpps\tmbps\tsoftirq_pct\toffloaded\tseconds\tslowpath_packets\n' >"$OUT/datapath.tsv"
    # The cases are interleaved round by round, so a drift of the host's
    # load hits every case alike and each round gives one ratio; the order
    # rotates from round to round, so no case always runs first.
    local cases=(${BENCH_CASES:-a_noruleset b_fw4 c_fw4_global d_perzone}) k
    for rep in $(seq 1 "$REPS"); do
        for k in $(seq 0 $((${#cases[@]} - 1))); do
            c=${cases[$(( (k + rep - 1) % ${#cases[@]} ))]}
            set_case "$c"
            [ "$rep" = 1 ] && [ "$c" = d_perzone ] && in_rt nft list table inet nftoffload
            for p in ${BENCH_PROTOS:-udp tcp}; do one_run "$c" "$rep" "$p"; done
        done
    done
    in_rt nft flush ruleset
    topo_down
}

# --- 2-4. daemon: footprint, control path, observation ---------------------------
proc_field() { sed -n "s/^$2:[[:space:]]*\([0-9]*\).*/\1/p" "/proc/$1/status"; }

daemon_start() {
    "$ubusd_bin" -s "$SOCK" >"$T_TMP/ubusd.log" 2>&1 &
    echo $! >"$T_TMP/ubusd.pid"
    wait_until 10 test -S "$SOCK" || fail "ubusd did not create $SOCK"
    # not through in_rt (a function): $! must be the daemon itself (ip execs it)
    ip netns exec rt "$NFTOFFLOAD" daemon --config-dir "$CFG" --ubus-socket "$SOCK" >"$T_TMP/daemon.log" 2>&1 &
    DPID=$!
    echo "$DPID" >"$T_TMP/daemon.pid"
    wait_until 20 in_rt "$BENCH_CTL" call "$SOCK" nftoffload status 1 >/dev/null 2>&1 ||
        { cat "$T_TMP/daemon.log"; fail "the daemon did not answer status"; }
    wait_until 20 sh -c "ip netns exec rt nft list flowtable inet nftoffload ft 2>/dev/null | grep -q iot0" ||
        { cat "$T_TMP/daemon.log"; fail "the daemon did not program iot0"; }
}
daemon_stop() {
    kill "$(cat "$T_TMP/daemon.pid")" 2>/dev/null
    wait "$(cat "$T_TMP/daemon.pid")" 2>/dev/null
    kill "$(cat "$T_TMP/ubusd.pid")" 2>/dev/null
    rm -f "$T_TMP/daemon.pid" "$T_TMP/ubusd.pid"
}

# time_cmd N FILE CMD... : run CMD N times, append each wall time (us) to FILE
time_cmd() {
    local n=$1 file=$2 i t0 t1
    shift 2
    for i in $(seq 1 "$n"); do
        t0=$(now_us)
        "$@" >/dev/null 2>&1 || echo "# $* exited $?"
        t1=$(now_us)
        echo $((t1 - t0)) >>"$file"
    done
}
# rt_time N FILE CMD... : time_cmd inside the router namespace, so the
# samples do not include the cost of `ip netns exec` itself
rt_time() { in_rt bash -c "$(declare -f now_us time_cmd); time_cmd \"\$@\"" rt_time "$@"; }

control() {
    topo_up
    ip -n rt link add iot0 up type dummy || fail "dummy iot0"
    fw4_ruleset | in_rt nft -f - || fail "loading the fw4-like ruleset"
    bench_config lan=software wan=software guest=off iot=software
    daemon_start
    trap daemon_stop EXIT
    echo "# daemon $DPID: $(tr '\0' ' ' </proc/$DPID/cmdline)"
    tr '\0' ' ' </proc/$DPID/cmdline | grep -q "^$NFTOFFLOAD daemon " || fail "pid $DPID is not the daemon"

    # 4. footprint: idle RSS and wakeups (context switches) over IDLE_SECS
    sleep 2
    local rss v1 n1 v2 n2
    rss=$(proc_field "$DPID" VmRSS)
    v1=$(proc_field "$DPID" voluntary_ctxt_switches) n1=$(proc_field "$DPID" nonvoluntary_ctxt_switches)
    sleep "$IDLE_SECS"
    v2=$(proc_field "$DPID" voluntary_ctxt_switches) n2=$(proc_field "$DPID" nonvoluntary_ctxt_switches)
    {
        echo "rss_kib $rss"
        echo "idle_secs $IDLE_SECS"
        echo "wakeups_idle $(( (v2 - v1) + (n2 - n1) ))"
        echo "wakeups_voluntary $((v2 - v1))"
        echo "wakeups_nonvoluntary $((n2 - n1))"
    } >>"$OUT/footprint.txt"
    cat "$OUT/footprint.txt"

    # 2. control path: a zone toggle through ubus `set` (in-process client,
    # one sample per call) against `nft -f` loading the same objects: our
    # table as the kernel has it with guest on and with guest off, renamed
    # to nftoffload_ref so that the daemon's own state is not touched. The
    # two alternate in blocks (the host's load drifts), and the daemon is
    # stopped (SIGSTOP) while nft -f runs, so it costs the kernel nothing.
    local st i m blocks=10 per
    for st in a b; do
        in_rt "$BENCH_CTL" toggle "$SOCK" guest gst0 1 >/dev/null || fail "toggle"
        { echo "table inet nftoffload_ref"; echo "delete table inet nftoffload_ref"
          in_rt nft list table inet nftoffload | sed 's/^table inet nftoffload {/table inet nftoffload_ref {/'
        } >"$T_TMP/ref-$st.nft"
    done
    wc -l "$T_TMP"/ref-*.nft
    grep -q gst0 "$T_TMP/ref-a.nft" "$T_TMP/ref-b.nft" || fail "neither listing has gst0"
    in_rt nft -f "$T_TMP/ref-a.nft" || fail "nft -f of our own listing fails"
    [ "$TOGGLES" -lt 20 ] && blocks=2
    per=$(( (TOGGLES + blocks - 1) / blocks ))
    for i in $(seq 1 "$blocks"); do
        in_rt "$BENCH_CTL" toggle "$SOCK" guest gst0 "$per" >>"$OUT/toggle.us" || fail "toggle loop"
        kill -STOP "$DPID"
        in_rt bash -c "$(declare -f now_us time_cmd)
            for i in \$(seq 1 $(( (per + 1) / 2 ))); do
                time_cmd 1 '$OUT/nftf.us' nft -f '$T_TMP/ref-b.nft'
                time_cmd 1 '$OUT/nftf.us' nft -f '$T_TMP/ref-a.nft'
            done"
        kill -CONT "$DPID"
    done
    in_rt nft delete table inet nftoffload_ref
    # the same toggle through the CLI (one process per call, as a shell
    # user sees it)
    for i in $(seq 1 $((TOGGLES / 10 < 4 ? 4 : TOGGLES / 10))); do
        [ $((i % 2)) = 1 ] && m=software || m=off
        time_cmd 1 "$OUT/toggle_cli.us" "$NFTOFFLOAD" set guest "$m" --ubus-socket "$SOCK"
    done

    # hotplug: iot0 deleted and created again
    in_rt "$BENCH_CTL" hotplug iot0 "$HOTPLUG" >"$OUT/hotplug.us" || fail "hotplug loop"
    # self-heal: every table deleted, as `nft flush ruleset` does
    local want="lan0 wan0 iot0"
    in_rt nft list flowtable inet nftoffload ft | grep -q gst0 && want="$want gst0"
    # shellcheck disable=SC2086
    in_rt "$BENCH_CTL" selfheal "$SELFHEAL" $want >"$OUT/selfheal.us" || fail "selfheal loop"

    # 3. observation: status against conntrack -L | grep -c OFFLOAD
    local have=0 n tracked
    in_rt conntrack -F >/dev/null 2>&1
    for n in $CT_LEVELS; do
        in_rt "$BENCH_CTL" ctfill "$have" "$n" >/dev/null || fail "filling conntrack to $n"
        have=$n
        echo "# conntrack entries: $(in_rt conntrack -C)"
        tracked=$(in_rt "$NFTOFFLOAD" status --json --ubus-socket "$SOCK" |
            sed -n 's/.*"tracked": *\([0-9]*\).*/\1/p' | head -n1)
        echo "tracked_$n ${tracked:-?}" >>"$OUT/footprint.txt"
        # blocks of status calls, one CLI status and one conntrack -L each
        local r
        for r in $(seq 1 "$CLI_N"); do
            in_rt "$BENCH_CTL" call "$SOCK" nftoffload status $(( (STATUS_N + CLI_N - 1) / CLI_N )) \
                >>"$OUT/status_$n.us" || fail "status at $n"
            time_cmd 1 "$OUT/status_cli_$n.us" "$NFTOFFLOAD" status --json --ubus-socket "$SOCK"
            in_rt "$BENCH_CTL" ctcount 3 >>"$OUT/ctcount_$n.us" || fail "ctcount at $n"
            rt_time 1 "$OUT/conntrack_$n.us" sh -c 'conntrack -L 2>/dev/null | grep -c OFFLOAD; true'
        done
        echo "# $n entries: status p50 $(sort -n "$OUT/status_$n.us" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') us," \
            "conntrack -L|grep $(sort -n "$OUT/conntrack_$n.us" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') us"
    done
    {
        echo "rss_after_status_kib $(proc_field "$DPID" VmRSS)"
        echo "hwm_kib $(proc_field "$DPID" VmHWM)"
    } >>"$OUT/footprint.txt"
    in_rt conntrack -F >/dev/null 2>&1
    daemon_stop
    trap - EXIT

    topo_down
}

t0=$SECONDS
for s in ${BENCH_SECTIONS:-datapath control}; do section "$s" "$s"; done
echo "# bench took $((SECONDS - t0)) s, $errors error(s)"
[ "$errors" = 0 ]
