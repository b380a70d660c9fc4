#!/usr/bin/env python3
"""Reference answers with pandas for arrayq's window functions.

    window_ref.py --src cube.npy --t0 6 --y0 40 --y1 61 --x0 100 --x1 121 --hot 267.5

`cube.npy` holds t2m (time, lat, lon) as stored (f32). The tests select
time[t0:], lat[y0:y1], lon[x0:x1] with WHERE and mask cells with
`CASE WHEN t2m > hot THEN t2m END` (missing values, NaN here). Windows only see
the selected cells, so the reference slices first, then runs pandas along time
(or lat) for every cell of the other dimensions. Prints JSON: per-cell grids
(time, lat, lon; row-major, null for missing).
"""
import argparse
import json

import numpy as np
import pandas as pd


def grid(a):
    return [None if np.isnan(v) else float(v) for v in np.asarray(a, dtype=np.float64).ravel()]


def along_time(y, f):
    """`f` over a DataFrame (time x cells), back to (time, lat, lon)."""
    nt, ny, nx = y.shape
    out = f(pd.DataFrame(y.reshape(nt, ny * nx)))
    return np.asarray(out, dtype=np.float64).reshape(nt, ny, nx)


def main():
    ap = argparse.ArgumentParser()
    for k in ("t0", "y0", "y1", "x0", "x1"):
        ap.add_argument(f"--{k}", type=int, required=True)
    ap.add_argument("--hot", type=float, required=True)
    ap.add_argument("--src", required=True)
    a = ap.parse_args()
    x = np.load(a.src)[a.t0:, a.y0:a.y1, a.x0:a.x1]
    xf = x.astype(np.float64)
    # The CASE mask compares the f32 values.
    y = np.where(x > np.float32(a.hot), xf, np.nan)
    out = {"missing": int(np.isnan(y).sum()), "cells": int(y.size)}
    r24 = lambda d: d.rolling(24, min_periods=1)
    out["avg24"] = grid(along_time(y, lambda d: r24(d).mean()))
    out["sum24"] = grid(along_time(y, lambda d: r24(d).sum()))
    out["max24"] = grid(along_time(y, lambda d: r24(d).max()))
    out["min24"] = grid(along_time(y, lambda d: r24(d).min()))
    out["count24"] = grid(along_time(y, lambda d: r24(d).count()))
    # Cumulative sum over the present values: cumsum(skipna) carried over missing rows.
    cum = along_time(y, lambda d: d.cumsum(skipna=True).ffill())
    assert np.allclose(cum, along_time(y, lambda d: d.expanding(min_periods=1).sum()), equal_nan=True)
    out["cumsum"] = grid(cum)
    out["lag1"] = grid(along_time(y, lambda d: d.shift(1)))
    out["lead2"] = grid(along_time(y, lambda d: d.shift(-2)))
    # 2 PRECEDING .. 3 FOLLOWING: a trailing window of 6 ending 3 rows later (the
    # end padded with missing rows).
    nt, ny, nx = y.shape
    pad = np.concatenate([y, np.full((3, ny, nx), np.nan)])
    centred = along_time(pad, lambda d: d.rolling(6, min_periods=1).mean().shift(-3))[:nt]
    out["avg_m2_p3"] = grid(centred)
    # Along lat by ascending latitude (stored north to south): 1 PRECEDING .. CURRENT ROW.
    lat_up = y[:, ::-1, :].transpose(1, 0, 2)  # (lat ascending, time, lon)
    nl = lat_up.shape[0]
    s = pd.DataFrame(lat_up.reshape(nl, -1)).rolling(2, min_periods=1).sum()
    s = np.asarray(s, dtype=np.float64).reshape(lat_up.shape).transpose(1, 0, 2)[:, ::-1, :]
    out["lat_sum2"] = grid(s)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
