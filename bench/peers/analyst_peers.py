#!/usr/bin/env python3
"""The analyst suite's questions as an xarray + Dask user writes them, on one of the
era5 suite's Zarr v3 stores; prints times as JSON and saves each answer as .npy.

    analyst_peers.py --data DIR --layout maps|pencils --answers OUT [--runs 3]
                     [--warmup 1] [--threads 2] [--queries clim,anomaly,p95,rolling]
                     [--dask-chunks auto|day|storage]

DIR is what era5_files.py wrote (zarr/maps.zarr, zarr/pencils.zarr). The store is
opened as era5_peers.py's xarray-zarr system opens it (xr.open_zarr, Dask threaded
scheduler with --threads workers). Questions (t = ds.t2m):

    clim     t.groupby("time.month").mean()                      monthly climatology per cell
    anomaly  t.sel(time=January) - clim.sel(month=1)              January's hourly anomalies
             (clim computed once before, untimed, held in memory as a stored climatology is)
    p95      t.resample(time="1D").max().chunk(time=-1).quantile(0.95, dim="time")
             (quantile needs the whole time axis in one Dask chunk: xarray says so and
             the user rechunks)
    rolling  t.sel(lat=52, lon=5, method="nearest").rolling(time=24, min_periods=1).mean()

Each question runs --warmup times untimed, then --runs times timed, until the answer
is a numpy array. The last answer goes to OUT/<question>.npy (its own dtype, C order).
Stdout: {"layout", "threads", "open_s", "versions", "queries": {q: {"times_s",
"shape", "dtype"}}}.
"""
import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402
from era5_peers import POINT, open_xarray_zarr, preimport  # noqa: E402

QUESTIONS = ["clim", "anomaly", "p95", "rolling"]


class Analyst:
    """The questions on a DataArray t2m (Dask-backed)."""

    def __init__(self, t2m):
        self.t = t2m
        self._clim = None

    def clim(self):
        return self.t.groupby("time.month").mean().values

    def _january(self):
        return self.t.sel(time=slice("2023-01-01T00:00", "2023-01-31T23:00"))

    def anomaly(self):
        if self._clim is None:
            # The stored climatology's counterpart: computed once, kept in memory.
            self._clim = self.t.groupby("time.month").mean().compute()
        return (self._january() - self._clim.sel(month=1)).values

    def p95(self):
        daily = self.t.resample(time="1D").max()
        return daily.chunk(time=-1).quantile(0.95, dim="time").values

    def rolling(self):
        lat, lon = POINT
        point = self.t.sel(lat=lat, lon=lon, method="nearest")
        return point.rolling(time=24, min_periods=1).mean().values


def main():
    ap = argparse.ArgumentParser(description="the analyst questions on xarray + Dask + Zarr")
    ap.add_argument("--data", required=True, help="directory written by era5_files.py")
    ap.add_argument("--layout", choices=["maps", "pencils"], default="maps")
    ap.add_argument("--answers", required=True, help="directory for <question>.npy")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--queries", default=",".join(QUESTIONS))
    ap.add_argument("--dask-chunks", choices=["storage", "day", "auto"], default="auto")
    a = ap.parse_args()
    queries = [q.strip() for q in a.queries.split(",") if q.strip()]
    bad = [q for q in queries if q not in QUESTIONS]
    if bad:
        ap.error(f"unknown questions {bad}")
    store = os.path.join(a.data, "zarr", f"{a.layout}.zarr")
    if not os.path.isdir(store):
        sys.exit(f"no Zarr store {store} (write it with era5_files.py)")
    os.makedirs(a.answers, exist_ok=True)

    preimport("xarray-zarr")
    t0 = time.perf_counter()
    peer, _ = open_xarray_zarr(a, store)
    open_s = time.perf_counter() - t0
    analyst = Analyst(peer.t)

    out_q = {}
    for q in queries:
        fn = getattr(analyst, q)
        for _ in range(a.warmup):
            fn()
        result, times, _, _ = peerlib.time_runs(fn, a.runs, "none", "none", [])
        result = np.ascontiguousarray(result)
        np.save(os.path.join(a.answers, f"{q}.npy"), result)
        out_q[q] = {"times_s": times, "shape": list(result.shape), "dtype": str(result.dtype)}
        peerlib.eprint(f"xarray-zarr {a.layout} {q}: " + " ".join(f"{t * 1e3:.1f}ms" for t in times))

    peerlib.dump({
        "suite": "analyst",
        "system": "xarray-zarr",
        "layout": a.layout,
        "threads": a.threads,
        "runs": a.runs,
        "warmup": a.warmup,
        "dask_chunks": a.dask_chunks,
        "open_s": open_s,
        "versions": peerlib.versions(["numpy", "xarray", "dask", "zarr", "flox", "pandas"]),
        "queries": out_q,
    })


if __name__ == "__main__":
    main()
