# shellcheck shell=bash
# Shell library for the kernel end-to-end tests, sourced inside the test VM
# (tests/vm/run-all.sh, demo.sh) and by each test process.
#
# Topology (all namespaces are created and deleted by the tests):
#
#   ns lan   eth0 10.0.1.2 ──── lan0 10.0.1.1 ┐
#   ns guest eth0 10.0.3.2 ──── gst0 10.0.3.1 ├ ns rt (router: ip_forward=1,
#   ns wan   eth0 10.0.2.2 ──── wan0 10.0.2.1 ┘        nf_conntrack_acct=1)
#
# The iperf3 servers run in `wan`.  Clients pick a fixed client port
# (--cport) so a test can find its own conntrack entry and count exactly its
# own packets in a probe chain (table inet t_probe, see probe_install).
# Every wait is bounded.

REPO=${REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
NFTOFFLOAD=${NFTOFFLOAD:-$REPO/target/debug/nftoffload}
T_TMP=${T_TMP:-$(mktemp -d "${TMPDIR:-/tmp}/t.XXXXXX")}
export REPO NFTOFFLOAD T_TMP

LAN_IP=10.0.1.2 GUEST_IP=10.0.3.2 WAN_IP=10.0.2.2

# --- reporting ------------------------------------------------------------------
note() { echo "# $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }

# wait_until SECONDS CMD... : poll CMD every 0.2 s; 0 once it succeeds, 1 on timeout
wait_until() {
    local secs=$1 end
    shift
    end=$(( $(date +%s%N) / 1000000 + secs * 1000 ))
    while :; do
        "$@" && return 0
        [ "$(( $(date +%s%N) / 1000000 ))" -ge "$end" ] && return 1
        sleep 0.2
    done
}

# --- topology ---------------------------------------------------------------------
in_rt() { ip netns exec rt "$@"; }

topo_down() {
    local f ns nss
    for f in "$T_TMP"/*.pid; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
        rm -f "$f"
    done
    nss=$(ip netns list 2>/dev/null | awk '{print $1}')
    [ -n "$nss" ] || return 0
    for ns in $nss; do ip netns pids "$ns" 2>/dev/null; done | xargs -r kill 2>/dev/null
    ip -all netns delete 2>/dev/null
    return 0
}

# busybox's ping when iputils-ping is not installed
ping1() { if command -v ping >/dev/null; then ping -c1 -W5 "$1"; else busybox ping -c1 -W5 "$1"; fi; }

# Each command costs a fraction of a second under TCG, so the topology is
# built with a few `ip -batch` runs rather than dozens of ip calls.
topo_up() {
    topo_down
    [ -d /proc/sys/net/netfilter ] || modprobe nf_conntrack || fail "modprobe nf_conntrack"
    ip -batch - <<'EOF' || fail "creating namespaces and veths"
netns add rt
netns add lan
netns add guest
netns add wan
link add lan0 netns rt type veth peer name eth0 netns lan
link add gst0 netns rt type veth peer name eth0 netns guest
link add wan0 netns rt type veth peer name eth0 netns wan
EOF
    ip -n rt -batch - <<'EOF' || fail "configuring ns rt"
link set lo up
addr add 10.0.1.1/24 dev lan0
addr add 10.0.3.1/24 dev gst0
addr add 10.0.2.1/24 dev wan0
link set lan0 up
link set gst0 up
link set wan0 up
EOF
    local spec c ca ra
    for spec in lan:$LAN_IP:10.0.1.1 guest:$GUEST_IP:10.0.3.1 wan:$WAN_IP:10.0.2.1; do
        IFS=: read -r c ca ra <<<"$spec"
        ip -n "$c" -batch - <<EOF || fail "configuring ns $c"
link set lo up
addr add $ca/24 dev eth0
link set eth0 up
route add default via $ra
EOF
    done
    # forwarding on; conntrack accounting on, since offloaded flows only keep
    # byte counts with it (OpenWrt turns it on in its sysctl defaults)
    in_rt sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward &&
                 echo 1 > /proc/sys/net/netfilter/nf_conntrack_acct' || fail "router sysctls"
    ip netns exec lan bash -c "$(declare -f ping1); ping1 $WAN_IP" >/dev/null || fail "no route lan -> wan"
    ip netns exec guest bash -c "$(declare -f ping1); ping1 $WAN_IP" >/dev/null || fail "no route guest -> wan"
}

# --- iperf3 ---------------------------------------------------------------------------
# iperf_servers PORT... : one iperf3 server per port in ns wan (a server runs
# one test at a time, so concurrent clients need different ports)
iperf_servers() {
    local p
    for p in "$@"; do
        ip netns exec wan iperf3 -s -D -p "$p" --pidfile "$T_TMP/iperf3-s-$p.pid" >/dev/null ||
            fail "iperf3 server on port $p"
    done
    for p in "$@"; do
        wait_until 10 port_listening "$p" || fail "iperf3 server on port $p is not listening"
    done
}
port_listening() { ip netns exec wan ss -Hltn "sport = :$1" | grep -q .; }

# iperf_bg NS PORT SECS CPORT [iperf3 args...] : start a client in the
# background (10.0.2.2:PORT, client port CPORT); output in $T_TMP/iperf-CPORT.log
iperf_bg() {
    local ns=$1 port=$2 secs=$3 cport=$4
    shift 4
    timeout -k 5 $((secs + 30)) ip netns exec "$ns" \
        iperf3 -c "$WAN_IP" -p "$port" -t "$secs" --cport "$cport" --connect-timeout 5000 "$@" \
        >"$T_TMP/iperf-$cport.log" 2>&1 &
    echo $! >"$T_TMP/iperf-c-$cport.pid"
}
# iperf_wait CPORT : wait for that client (bounded by its own timeout); its exit code
iperf_wait() {
    local pid rc
    pid=$(cat "$T_TMP/iperf-c-$1.pid" 2>/dev/null) || return 1
    wait "$pid"
    rc=$?
    rm -f "$T_TMP/iperf-c-$1.pid"
    return $rc
}
# iperf_stop CPORT : end a long client early (tests sample mid-transfer, then stop)
iperf_stop() {
    local pid
    pid=$(cat "$T_TMP/iperf-c-$1.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rm -f "$T_TMP/iperf-c-$1.pid"
    return 0
}
iperf_log() { sed 's/^/#   iperf3: /' "$T_TMP/iperf-$1.log" 2>/dev/null; }
# iperf_summary CPORT : the receiver's summary line
iperf_summary() { grep -E 'receiver|sender' "$T_TMP/iperf-$1.log" 2>/dev/null | tail -n1 | sed 's/^ *//'; }

# --- conntrack ----------------------------------------------------------------------
ct_all() { in_rt conntrack -L 2>/dev/null; }
# ct_lines PROTO SRC DPORT [SPORT] : conntrack entries whose ORIGINAL tuple matches
ct_lines() {
    in_rt conntrack -L -p "$1" 2>/dev/null | awk -v s="src=$2" -v d="dport=$3" -v sp="${4:+sport=$4}" '{
        src = ""; dp = ""; spt = ""
        for (i = 1; i <= NF; i++) {
            if (src == "" && $i ~ /^src=/) src = $i
            if (spt == "" && $i ~ /^sport=/) spt = $i
            if (dp == "" && $i ~ /^dport=/) dp = $i
        }
        if (src == s && dp == d && (sp == "" || spt == sp)) print
    }'
}
# ct_offloaded PROTO SRC DPORT [SPORT] : true if such an entry is [OFFLOAD]/[HW_OFFLOAD]
ct_offloaded() { ct_lines "$@" | grep -qE '\[(HW_)?OFFLOAD\]'; }
ct_hw_offloaded() { ct_lines "$@" | grep -qF '[HW_OFFLOAD]'; }
ct_exists() { ct_lines "$@" | grep -q .; }
# ct_bytes PROTO SRC DPORT SPORT : original-direction byte count of that entry
ct_bytes() {
    ct_lines "$@" | head -n1 | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^bytes=/) { sub(/^bytes=/, "", $i); print $i; exit } }'
}

# --- nftables counters ------------------------------------------------------------------
# table_packets FAMILY TABLE : sum of the packet counts of the table's rule counters
table_packets() {
    in_rt nft list table "$1" "$2" 2>/dev/null |
        awk '/counter packets/ { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}
# our tables: family inet, named nftoffload*
nftoffload_tables() { in_rt nft list tables 2>/dev/null | awk '$2 == "inet" && $3 ~ /^nftoffload/ { print $3 }'; }
nftoffload_packets() {
    local t s=0
    for t in $(nftoffload_tables); do s=$((s + $(table_packets inet "$t"))); done
    echo "$s"
}
nftoffload_has_counters() {
    local t
    for t in $(nftoffload_tables); do
        in_rt nft list table inet "$t" | grep -q 'counter packets' && return 0
    done
    return 1
}

# probe_install CPORT... : table inet t_probe, a forward chain (priority 100)
# counting each client port's packets, both directions, TCP and UDP.  Packets
# of an offloaded flow skip every forward chain, so these counters freeze.
probe_install() {
    local p rules=""
    for p in "$@"; do
        rules+="meta l4proto { tcp, udp } th sport $p counter comment \"p$p\"
meta l4proto { tcp, udp } th dport $p counter comment \"p$p\"
"
    done
    in_rt nft -f - <<EOF || fail "probe table"
table inet t_probe {
    chain probe_forward {
        type filter hook forward priority 100; policy accept;
$rules    }
}
EOF
}
# probe_packets CPORT : packets of that client port's flows seen in the forward hook
probe_packets() {
    in_rt nft list chain inet t_probe probe_forward |
        awk -v c="\"p$1\"" '$0 ~ "comment " c { for (i = 1; i <= NF; i++) if ($i == "packets") s += $(i + 1) } END { print s + 0 }'
}

# rx_bytes NS [DEV] : bytes received on DEV (default eth0) in NS, read from
# the device itself, so it proves traffic flowed whatever netfilter counts
rx_bytes() { ip netns exec "$1" cat "/sys/class/net/${2:-eth0}/statistics/rx_bytes"; }

# --- nftoffload ---------------------------------------------------------------------------
# write_config DIR ZONE=MODE... [hw_check=0] : UCI files DIR/firewall (zones
# lan, guest, wan on lan0, gst0, wan0) and DIR/nftoffload
write_config() {
    local dir=$1 kv zone mode hw_check=""
    shift
    mkdir -p "$dir"
    cat >"$dir/firewall" <<'EOF'
config defaults
	option input 'ACCEPT'
	option output 'ACCEPT'
	option forward 'REJECT'

config zone
	option name 'lan'
	list device 'lan0'

config zone
	option name 'guest'
	list device 'gst0'

config zone
	option name 'wan'
	list device 'wan0'
EOF
    {
        printf "config globals 'globals'\n\toption enabled '1'\n"
        for kv in "$@"; do
            [ "${kv%%=*}" = hw_check ] && hw_check=${kv#*=}
        done
        [ -n "$hw_check" ] && printf "\toption hw_check '%s'\n" "$hw_check"
        for kv in "$@"; do
            zone=${kv%%=*} mode=${kv#*=}
            [ "$zone" = hw_check ] && continue
            printf "\nconfig zone\n\toption name '%s'\n\toption mode '%s'\n" "$zone" "$mode"
        done
    } >"$dir/nftoffload"
}

need_nftoffload() {
    [ -x "$NFTOFFLOAD" ] || fail "nftoffload binary not found at $NFTOFFLOAD (build it on the host first: cargo build)"
}
# nftoffload ARGS... : the binary, run in the router namespace
nftoffload() { in_rt "$NFTOFFLOAD" "$@"; }

# apply_ok DIR : `nftoffload apply --config-dir DIR`, must exit 0; output in $T_TMP/apply.out
apply_ok() {
    local rc
    nftoffload apply --config-dir "$1" >"$T_TMP/apply.out" 2>&1
    rc=$?
    sed 's/^/#   apply: /' "$T_TMP/apply.out"
    [ $rc = 0 ] || fail "nftoffload apply exited $rc"
    [ -n "$(nftoffload_tables)" ] || fail "apply exited 0 but no inet nftoffload* table exists"
}
