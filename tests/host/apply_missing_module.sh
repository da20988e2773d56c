# shellcheck shell=bash
# On the host kernel (CONFIG_NF_FLOW_TABLE unset: a real "kmod-nft-offload
# missing" machine), `nftoffload apply` must fail and tell the router owner
# which package to install.  Runs in a fresh network namespace with the
# zones' devices present, so the missing module is the only thing wrong.

test_apply_names_missing_kmod() {
    local ns=nftoffload-host-$$ dir out rc
    dir=$(mktemp -d "${TMPDIR:-/tmp}/nftoffload-host.XXXXXX")
    # shellcheck disable=SC2064
    trap "ip netns del $ns 2>/dev/null; rm -rf '$dir'" EXIT
    [ -x "$NFTOFFLOAD" ] || { echo "FAIL: no binary at $NFTOFFLOAD (cargo build)"; return 1; }
    ip netns add "$ns" || { echo "FAIL: ip netns add (needs root)"; return 1; }
    ip -n "$ns" link add lan0 type veth peer name wan0 || return 1
    ip -n "$ns" link add gst0 type veth peer name gst1 || return 1
    ip -n "$ns" link set lo up

    # Precondition: flowtables really are unsupported here (a device-less
    # flowtable is the unambiguous probe); on a kernel that has them this
    # test proves nothing, so it is skipped, loudly.
    if ip netns exec "$ns" nft -f - 2>/dev/null <<'NFT'
table inet hostprobe {
    flowtable ft { hook ingress priority filter; }
}
NFT
    then
        echo "SKIP: this host kernel supports flowtables; the missing-module path cannot be tested here"
        exit 77
    fi

    cat >"$dir/firewall" <<'UCI'
config zone
	option name 'lan'
	list device 'lan0'

config zone
	option name 'guest'
	list device 'gst0'

config zone
	option name 'wan'
	list device 'wan0'
UCI
    cat >"$dir/nftoffload" <<'UCI'
config globals 'globals'
	option enabled '1'

config zone
	option name 'lan'
	option mode 'software'

config zone
	option name 'wan'
	option mode 'software'
UCI
    out=$(ip netns exec "$ns" timeout 30 "$NFTOFFLOAD" apply --config-dir "$dir" 2>&1)
    rc=$?
    echo "$out" | sed 's/^/# apply: /'
    [ $rc != 0 ] || { echo "FAIL: apply exited 0 on a kernel without flowtables"; return 1; }
    [ $rc != 124 ] || { echo "FAIL: apply hung (timeout)"; return 1; }
    echo "$out" | grep -q 'kmod-nft-offload' ||
        { echo "FAIL: apply's message does not name kmod-nft-offload"; return 1; }
    # nothing half-applied is left behind
    if ip netns exec "$ns" nft list tables | grep -q 'nftoffload'; then
        echo "FAIL: a nftoffload table was left behind after the failed apply"; return 1
    fi
    echo "# exit code $rc"
}
