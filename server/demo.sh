#!/usr/bin/env bash
# Builds and runs arrayqd on an embedded store with the ERA5 demo cube (installs the
# system libraries the build needs first). Extra arguments go to arrayqd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash server/install-build-deps.sh
exec cargo run --release -p arrayq-server --bin arrayqd -- --demo "$@"
