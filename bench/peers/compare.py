#!/usr/bin/env python3
"""Check peer answers against the reference answers of tests/reference/workload_ref.py.

    compare.py --ref REF.json PEER.json [PEER.json ...]   [--rel 1e-5]

REF.json is the output of `workload_ref.py --era5 SCALE --queries` or
`workload_ref.py --energy SCALE --queries`; each PEER.json the output of
era5_peers.py or energy_pg.py. Prints one line per (system, query) and a closing
'N passed, N failed' line; exits 1 if any answer is off.

Rules (relative tolerance --rel, default 1e-5, for sums and means of float32 data;
values of the cube itself must match exactly as float32):
    Q1  series == ref Q1 (exact)      Q2  sum ~ Q2_sum, head/tail == ref Q2 (exact)
    Q3  series ~ ref Q3               Q4  sum ~ Q4_sum        Q5  sum ~ Q5_sum
    Q6  value ~ Q6                    E1/E4  series ~ ref     E2  sum ~ E2_sum
    E3  matrix (asset x day) ~ ref
"""
import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peerlib import REL_TOL, close_enough  # noqa: E402


def series_ok(got, want, rel, exact=False):
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return False, f"shape {list(got.shape)} != {list(want.shape)}"
    if exact:
        bad = np.flatnonzero(got.astype(np.float32) != want.astype(np.float32))
    else:
        # absolute floor: rel times the series' scale, for entries near zero
        floor = rel * float(np.abs(want).max()) if want.size else 0.0
        bad = np.flatnonzero(np.abs(got - want) > np.maximum(rel * np.abs(want), floor))
    if bad.size:
        k = int(bad[0])
        return False, f"{bad.size} values off, first at {k}: {got.flat[k]!r} vs {want.flat[k]!r}"
    return True, f"{want.size} values"


def scalar_ok(got, want, rel):
    ok = close_enough(got, want, rel)
    err = abs(got - want) / max(abs(want), 1e-300)
    return ok, f"{got!r} vs {want!r} (rel err {err:.1e})"


def check(q, ans, ref, rel):
    if q == "Q1":
        return series_ok(ans["values"], ref["Q1"], rel, exact=True)
    if q == "Q2":
        flat = np.asarray(ref["Q2"], dtype=np.float32).reshape(-1)
        ok_h = ans["head"] == [float(x) for x in flat[:len(ans["head"])]]
        ok_t = ans["tail"] == [float(x) for x in flat[len(flat) - len(ans["tail"]):]]
        ok, msg = scalar_ok(ans["sum"], ref["Q2_sum"], rel)
        return ok and ok_h and ok_t and ans["shape"] == list(np.shape(ref["Q2"])), \
            msg + ("" if ok_h and ok_t else " (head/tail differ)")
    if q == "Q3":
        return series_ok(ans["values"], ref["Q3"], rel)
    if q in ("Q4", "Q5"):
        return scalar_ok(ans["sum"], ref[f"{q}_sum"], rel)
    if q == "Q6":
        return scalar_ok(ans["value"], ref["Q6"], rel)
    if q in ("E1", "E4"):
        return series_ok(ans["values"], ref[q], rel)
    if q == "E2":
        return scalar_ok(ans["sum"], ref["E2_sum"], rel)
    if q == "E3":
        want = np.asarray(ref["E3"], dtype=np.float64)
        got = np.asarray(ans["values"], dtype=np.float64).reshape(ans["shape"])
        return series_ok(got, want, rel)
    return False, "no rule for this query"


def main():
    ap = argparse.ArgumentParser(description="compare peer answers with the reference")
    ap.add_argument("--ref", required=True)
    ap.add_argument("--rel", type=float, default=REL_TOL)
    ap.add_argument("peers", nargs="+")
    a = ap.parse_args()
    with open(a.ref) as f:
        ref = json.load(f)
    passed = failed = 0
    for path in a.peers:
        with open(path) as f:
            doc = json.load(f)
        if "systems" in doc:
            systems = doc["systems"]
        else:
            systems = {f"{doc['system']}:{doc.get('layout', '')}".rstrip(":"): doc}
        for name, sysdoc in systems.items():
            for q, res in sysdoc["queries"].items():
                ok, msg = check(q, res["answer"], ref, a.rel)
                passed += ok
                failed += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name:24} {q}: {msg}")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
