# shellcheck shell=bash
# The VM kernel offloads at all: plain `nft -f`, no nftoffload.  If these
# fail, every nftoffload test failing says nothing about nftoffload.

sanity_ruleset() {
    in_rt nft -f - <<'EOF' || fail "loading the sanity ruleset"
table inet sanity {
    flowtable ft {
        hook ingress priority filter
        devices = { lan0, wan0 }
        counter
    }
    chain forward {
        type filter hook forward priority filter; policy accept;
        meta l4proto { tcp, udp } counter flow add @ft
        counter
    }
}
EOF
}

# A lan->wan TCP flow gets [OFFLOAD], and then no packet of it walks the
# forward chains any more (rule counters freeze) while data keeps flowing.
test_tcp_offload_freezes_forward_counters() {
    topo_up
    sanity_ruleset
    probe_install 40001
    iperf_servers 5201
    # long enough to outlast the slow sampling under TCG; stopped when done
    iperf_bg lan 5201 60 40001
    wait_until 15 ct_offloaded tcp "$LAN_IP" 5201 40001 ||
        { ct_all; iperf_log 40001; fail "lan->wan TCP flow never showed [OFFLOAD]"; }
    note "$(ct_lines tcp "$LAN_IP" 5201 40001)"
    sleep 0.5
    local c1 p1 r1 c2 p2 r2
    c1=$(table_packets inet sanity) p1=$(probe_packets 40001) r1=$(rx_bytes wan)
    sleep 2
    c2=$(table_packets inet sanity) p2=$(probe_packets 40001) r2=$(rx_bytes wan)
    note "mid-transfer over 2 s: server received $((r2 - r1)) bytes;" \
        "forward rule packets $c1 -> $c2 (table sanity), $p1 -> $p2 (probe, this flow)"
    [ $((r2 - r1)) -gt 100000 ] || fail "the transfer did not move data in the sampling window ($((r2 - r1)) bytes)"
    [ "$p2" = "$p1" ] || fail "offloaded flow still walks the forward hook: probe counter $p1 -> $p2"
    [ "$c2" = "$c1" ] || fail "forward rule counters of table sanity kept growing: $c1 -> $c2"
    ct_offloaded tcp "$LAN_IP" 5201 40001 || fail "flow lost [OFFLOAD] mid-transfer"
    iperf_stop 40001
}

# UDP is offloaded too (no handshake needed: the first reply-less packets do).
test_udp_offload() {
    topo_up
    sanity_ruleset
    iperf_servers 5201
    iperf_bg lan 5201 60 40002 -u -b 10M
    wait_until 15 ct_offloaded udp "$LAN_IP" 5201 40002 ||
        { ct_all; iperf_log 40002; fail "lan->wan UDP flow never showed [OFFLOAD]"; }
    note "$(ct_lines udp "$LAN_IP" 5201 40002)"
    iperf_stop 40002
}

# The fact test c of t_nftoffload relies on: veth cannot offload in hardware,
# ethtool says so, and the kernel refuses `flags offload` with EOPNOTSUPP.
test_veth_refuses_hw_offload() {
    topo_up
    local k err
    k=$(in_rt ethtool -k lan0 | grep hw-tc-offload)
    note "ethtool -k lan0: $k"
    echo "$k" | grep -q 'off' || fail "expected hw-tc-offload off on veth, got: $k"
    err=$(in_rt nft -f - 2>&1 <<'EOF'
table inet hwprobe {
    flowtable ft {
        hook ingress priority filter
        devices = { lan0 }
        flags offload
    }
}
EOF
    ) && fail "the kernel accepted 'flags offload' on veth (an OpenWrt-patched kernel?)"
    note "nft: $(echo "$err" | head -n1)"
    echo "$err" | grep -qi 'not supported' || fail "expected EOPNOTSUPP, got: $err"
}
