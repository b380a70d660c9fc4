#!/usr/bin/env bash
# Cross-checks the project's numpy reference (workload_ref.py) against the shared
# reference generators (era5_synth.py, energy_synth.py) at scale XS. Run by hand, not
# in CI (CI and user clones have no shared generators):
#
#     tests/reference/crosscheck_shared.sh [SHARED_WORKLOAD_DIR]   # default ../shared/workload
#
# Python: $PYTHON, else the test venv target/pyvenv (made by `cargo test -p arrayq-tests`),
# else python3. Exits non-zero on any difference beyond 1e-9 relative.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
shared=$(cd "${1:-$root/../shared/workload}" && pwd)
py=${PYTHON:-$root/target/pyvenv/bin/python3}
[ -x "$py" ] || py=python3
"$py" -c 'import numpy' 2>/dev/null || {
    echo "no numpy for $py: run 'cargo test -p arrayq-tests' once, or set PYTHON" >&2
    exit 2
}
ref=$root/tests/reference/workload_ref.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "project reference: $ref"
echo "shared generators: $shared"

status=0
"$py" "$ref" --era5 XS --out "$tmp/ref.npy" --queries >"$tmp/ref_q.json"
"$py" "$shared/era5_synth.py" --scale XS --out "$tmp/shared.npy" --queries >"$tmp/shared_q.json"
if cmp -s "$tmp/ref.npy" "$tmp/shared.npy"; then
    echo "era5 XS cube: bytes identical ($(stat -c %s "$tmp/ref.npy") bytes)"
else
    echo "era5 XS cube: DIFFERENT"
    status=1
fi

"$py" "$ref" --energy XS --queries >"$tmp/ref_e.json"
"$py" "$shared/energy_synth.py" --scale XS --queries >"$tmp/shared_e.json"
"$py" "$ref" --energy XS --csv "$tmp/ref.csv"
"$py" "$shared/energy_synth.py" --scale XS --csv "$tmp/shared.csv"
# The csv module ends lines with CRLF; compare the rows, not the line endings.
if diff -q <(tr -d '\r' <"$tmp/ref.csv") <(tr -d '\r' <"$tmp/shared.csv") >/dev/null; then
    echo "energy XS rows (csv): identical ($(($(wc -l <"$tmp/ref.csv") - 1)) rows)"
else
    echo "energy XS rows (csv): DIFFERENT"
    status=1
fi

# Every key of the shared JSON must be in ours and agree within 1e-9 relative.
"$py" - "$tmp/ref_q.json" "$tmp/shared_q.json" "$tmp/ref_e.json" "$tmp/shared_e.json" <<'EOF' || status=1
import json, sys

def flat(x):
    return [v for item in x for v in flat(item)] if isinstance(x, list) else [x]

ok = True
for mine_path, theirs_path, name in [(sys.argv[1], sys.argv[2], "era5 XS queries"),
                                     (sys.argv[3], sys.argv[4], "energy XS queries")]:
    mine, theirs = json.load(open(mine_path)), json.load(open(theirs_path))
    for key, want in theirs.items():
        if key not in mine:
            print(f"{name} {key}: MISSING")
            ok = False
            continue
        a, b = flat(mine[key]), flat(want)
        if len(a) != len(b):
            print(f"{name} {key}: length {len(a)} != {len(b)}")
            ok = False
            continue
        rel = max((abs(x - y) / max(abs(y), 1e-300) for x, y in zip(a, b) if x != y), default=0.0)
        verdict = "exact" if rel == 0 else ("ok" if rel <= 1e-9 else "DIFFERENT")
        ok &= rel <= 1e-9
        print(f"{name} {key}: {verdict} ({len(a)} values, max rel diff {rel:.3g})")
sys.exit(0 if ok else 1)
EOF

if [ $status -eq 0 ]; then echo "crosscheck: PASS"; else echo "crosscheck: FAIL"; fi
exit $status
