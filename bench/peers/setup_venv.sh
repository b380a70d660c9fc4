#!/usr/bin/env bash
# Create or update the peers' venv (default: <repo>/target/benchvenv) from
# requirements.txt beside this script, then print the peers' versions as JSON.
#
#   bench/peers/setup_venv.sh [VENV_DIR]       # PYTHON=python3.11 to pick the interpreter
#
# Idempotent: the sha256 of requirements.txt (and the interpreter's version) is kept
# in VENV_DIR/.requirements.sha256; a matching venv is reused without touching pip.
# Progress goes to stderr, the JSON alone to stdout.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${1:-$repo/target/benchvenv}"
python="${PYTHON:-python3}"
req="$here/requirements.txt"

want="$( (sha256sum "$req" | cut -d' ' -f1; "$python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
have="$(cat "$venv/.requirements.sha256" 2>/dev/null || true)"

if [[ "$want" != "$have" || ! -x "$venv/bin/python" ]]; then
    echo "setup_venv: building $venv" >&2
    if [[ -e "$venv" && ! -x "$venv/bin/python" ]]; then
        rm -rf "$venv"
    fi
    rm -f "$venv/.requirements.sha256"
    "$python" -m venv "$venv" >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$req" >&2
    # the venv must import every peer before it counts as built
    "$venv/bin/python" -c 'import numpy, xarray, dask, flox, zarr, netCDF4, tensorstore, scipy, pyproj, rasterio, psycopg, psycopg2, pandas' >&2
    echo "$want" > "$venv/.requirements.sha256"
else
    echo "setup_venv: $venv is up to date" >&2
fi

exec "$venv/bin/python" "$here/versions.py"
