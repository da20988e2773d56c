#!/usr/bin/env bash
# Run the crate's unit tests built for each given target, under qemu-user
# (the `runner` in .cargo/config.toml). x86_64 musl runs natively.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/package/lib.sh
# Unit tests only: integration tests may need a ubus broker or namespaces.
kinds=(--bins)
[ ! -f src/lib.rs ] || kinds+=(--lib)
for t in "$@"; do
	echo "== unit tests for $t ($(target_triple "$t"))"
	cargo_for "$t" test "${kinds[@]}"
done
