#!/usr/bin/env bash
# Package tests: see test_package.py. Expects `make package-aarch64` (and
# for the LuCI check `make package-luci`) to have run; `make test-package`
# does both. Optional arguments select tests by name.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 tests/package/test_package.py "$@"
