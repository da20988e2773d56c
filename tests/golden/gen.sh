#!/bin/sh
# Regenerate the golden fixtures from Debian's nft (1.0.6 when they were
# made). Needs root (for a private network namespace) and nft; the fixtures
# are committed so `cargo test` needs neither.
#
# For each X.nft (except *_pre.nft) it writes
#   X.mnl.txt      nft --debug=mnl: every netlink message nft sends, byte by byte
#   X.netlink.txt  nft --debug=netlink: libnftnl's listing of the objects/expressions
# nft prints the batch before sending it, so these are complete even where
# this kernel then refuses the batch (no flowtable support → ENOENT). The
# kernel's answer goes to X.err.txt for information only.
#
# Each run happens in a fresh network namespace with veths lan0/wan0, so
# the host's ruleset is never touched. X_pre.nft, if present, is loaded
# first (without debug) to create what X.nft deletes.
set -eu
cd "$(dirname "$0")"
strip_ansi() { sed 's/\x1b\[[0-9;]*m//g'; }
for f in *.nft; do
	case "$f" in *_pre.nft) continue ;; esac
	x=${f%.nft}
	pre=
	[ -f "${x}_pre.nft" ] && pre="${x}_pre.nft"
	for d in mnl netlink; do
		unshare -n sh -c '
			ip link add lan0 type veth peer name wan0
			[ -z "$2" ] || nft -f "$2"
			nft --debug="$3" -f "$1"
		' sh "$f" "$pre" "$d" 2>"$x.err.txt" | strip_ansi >"$x.$d.txt" || true
	done
	echo "$x: $(grep -c 'message length' "$x.mnl.txt") messages"
done
nft --version >VERSION.txt
