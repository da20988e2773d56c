#!/usr/bin/env bash
# Run the crate's unit tests built for each given target, under qemu-user
# (the `runner` in .cargo/config.toml). x86_64 musl runs natively.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/package/lib.sh
# Unit tests only: integration tests may need a ubus broker or namespaces.
kinds=(--bins)
[ ! -f src/lib.rs ] || kinds+=(--lib)
# Tests needing kernel interfaces that qemu-user lacks (see the file).
skips=()
while read -r filter; do
	case "$filter" in '' | '#'*) continue ;; esac
	skips+=(--skip "$filter")
done < tests/package/qemu-skip.txt
for t in "$@"; do
	echo "== unit tests for $t ($(target_triple "$t"))"
	if [ -n "$(target_qemu "$t")" ]; then
		cargo_for "$t" test "${kinds[@]}" -- "${skips[@]}"
	else
		cargo_for "$t" test "${kinds[@]}"
	fi
done
