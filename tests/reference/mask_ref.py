#!/usr/bin/env python3
"""Reference answers with numpy for arrayq's value masks, HAVING and ORDER BY tests.

    mask_ref.py --src cube.npy --lat0 72 --dlat -0.25 --lon0 -25 --dlon 0.25

`cube.npy` holds t2m (time, lat, lon) as stored (f32). Prints JSON: per-cell grids
(lat, lon; row-major, null for missing) and the top-k rows, each computed the way
a numpy user would write it (float64 arithmetic on the f32 values).
"""
import argparse
import json

import numpy as np

HOT = 290.0  # threshold of the count / average tests
HI, LO = 295.0, 270.0  # OR / NOT test
CASE_LAT, CASE_HI, CASE_LO = 55.0, 285.0, 275.0  # CASE test
HAVING = 280.0


def grid(a):
    return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def main():
    ap = argparse.ArgumentParser()
    for k in ("lat0", "dlat", "lon0", "dlon"):
        ap.add_argument(f"--{k}", type=float, required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    x = np.load(a.src)  # f32: comparisons against the f32 values
    nt, ny, nx = x.shape
    lat = a.lat0 + a.dlat * np.arange(ny)
    lon = a.lon0 + a.dlon * np.arange(nx)
    xf = x.astype(np.float64)
    hot = x > np.float32(HOT)
    out = {
        "hot_count": grid(hot.sum(axis=0)),
        "hot_avg": grid(np.nanmean(np.where(hot, xf, np.nan), axis=0)),
        "or_not_count": grid(((x > np.float32(HI)) | ~(x > np.float32(LO))).sum(axis=0)),
    }
    north = (lat > CASE_LAT)[None, :, None]
    case = np.where(north, x > np.float32(CASE_HI), x < np.float32(CASE_LO))
    out["case_sum"] = grid(np.where(case, xf, 0.0).sum(axis=0))
    out["case_count"] = grid(case.sum(axis=0))
    avg = xf.mean(axis=0)
    out["having_avg"] = grid(np.where(avg > HAVING, avg, np.nan))
    # Top-k: max per cell, descending; ties by row-major cell index.
    m = xf.max(axis=0).ravel()
    order = np.lexsort((np.arange(m.size), -m))
    rows = [[float(lat[i // nx]), float(lon[i % nx]), float(m[i])] for i in order[:15]]
    out["top15"] = rows
    asc = np.lexsort((np.arange(m.size), m))
    out["bottom_offset"] = [[float(lat[i // nx]), float(lon[i % nx]), float(m[i])] for i in asc[5:10]]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
