#!/bin/bash
# `make demo`: runs inside the test VM.  A virtual router with three zones,
# the real nftoffload binary, real traffic, and what a router owner would
# look at: the apply summary, `conntrack -L`, and how many packets still go
# through the firewall.
REPO=${REPO:-$(cd "$(dirname "$0")/../.." && pwd)}
export REPO
. "$REPO/tests/vm/lib.sh"
trap topo_down EXIT
modprobe -a nf_conntrack nf_flow_table_inet nft_flow_offload 2>/dev/null
rc=0

say() { printf '\n=== %s\n' "$*"; }

say "nft-offload demo: a virtual router, kernel $(uname -r) in a QEMU VM"
cat <<'EOF'
    lan   clients 10.0.1.2  -- lan0 --+
    guest clients 10.0.3.2  -- gst0 --+-- router --- wan0 --- server 10.0.2.2
EOF
topo_up
need_nftoffload

CFG=$T_TMP/config
write_config "$CFG" lan=software wan=software guest=off
say "/etc/config/nftoffload (here: $CFG/nftoffload)"
cat "$CFG/nftoffload"

say "nftoffload apply"
if ! nftoffload apply --config-dir "$CFG"; then
    echo "(apply failed: exit code $?)"
    rc=1
fi

say "the router's nftables ruleset after apply"
in_rt nft list ruleset

probe_install 40001 40003
iperf_servers 5201 5203
say "traffic: iperf3 lan -> wan and guest -> wan, both at once"
iperf_bg lan 5201 60 40001
iperf_bg guest 5203 60 40003
wait_until 20 ct_offloaded tcp "$LAN_IP" 5201 40001 || true
wait_until 10 ct_exists tcp "$GUEST_IP" 5203 40003 || true
sleep 1
l1=$(probe_packets 40001) g1=$(probe_packets 40003) b1=$(rx_bytes wan)
sleep 3
l2=$(probe_packets 40001) g2=$(probe_packets 40003) b2=$(rx_bytes wan)

say "conntrack -L on the router, mid-transfer (the two iperf3 data connections)"
ct_lines tcp "$LAN_IP" 5201 40001
ct_lines tcp "$GUEST_IP" 5203 40003

say "what happened to each connection (3 s sample)"
verdict() { if ct_offloaded tcp "$1" "$2" "$3"; then echo "OFFLOADED (fast path)"; else echo "not offloaded (firewall slow path)"; fi; }
printf '  %-14s %-36s %s\n' "lan -> wan" "$(verdict "$LAN_IP" 5201 40001)" \
    "packets through the forward hook: $((l2 - l1))"
printf '  %-14s %-36s %s\n' "guest -> wan" "$(verdict "$GUEST_IP" 5203 40003)" \
    "packets through the forward hook: $((g2 - g1))"
echo "  the server received $(( (b2 - b1) / 1000000 )) MB in those 3 s from both clients"
echo "  (TCG emulation: absolute speeds mean nothing here, only the comparison does)"
ct_offloaded tcp "$LAN_IP" 5201 40001 || rc=1
! ct_offloaded tcp "$GUEST_IP" 5203 40003 || rc=1
iperf_stop 40001
iperf_stop 40003

say "nftoffload flush"
nftoffload flush || rc=1
left=$(nftoffload_tables | tr '\n' ' ')
echo "nftoffload tables left: ${left:-none}"
say "demo $([ $rc = 0 ] && echo finished || echo 'FAILED (see above)')"
exit $rc
