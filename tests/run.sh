#!/usr/bin/env bash
# Runs every test of the workspace on a fresh machine. Installs what is missing first:
# the Python venv of the reference/peer clients is created by the tests themselves
# (target/pyvenv, from tests/python/requirements.txt); this script makes sure the system
# pieces they need are there.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v python3 >/dev/null || need_apt+=(python3 python3-venv python3-pip)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
command -v initdb >/dev/null || ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v psql >/dev/null || need_apt+=(postgresql-client)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${need_apt[@]}"
fi
bash server/install-build-deps.sh
# PostgreSQL's binaries live outside PATH on Debian.
for d in /usr/lib/postgresql/*/bin; do [ -d "$d" ] && PATH="$PATH:$d"; done
export PATH

cargo test --workspace --locked "$@"
