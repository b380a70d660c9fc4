#!/usr/bin/env python3
"""Load the daily NetCDF files of the ERA5 cube into memory with xarray, timed: the
peer of `arrayq load netcdf` in the ingest suite.

    ingest_peers.py --data DIR [--runs 3] [--warmup 1] [--threads 2]
                    [--variant default|parallel]

DIR is what era5_files.py wrote (DIR/netcdf/t2m_YYYYMMDD.nc). Each run times

    ds = xr.open_mfdataset(files, combine="by_coords", parallel=...)
    ds.load()

from the call to the loaded arrays (Dask's threaded scheduler with --threads workers;
engine: xarray's default for the files, netcdf4), then closes the files.
`--variant default` is the call as written (parallel=False, the default);
`parallel` passes parallel=True (the files are opened in Dask tasks). Interpreter
start and imports are not timed; `--warmup` untimed runs come first (the page cache
holds the files: warm runs).

Stdout: one JSON object: times_s (timed runs), cpu_s (their process CPU time), shape, mean (float64 mean of t2m after
the last run, as numpy's `t2m.mean(dtype=float64)`), raw_bytes (float32 payload),
engine, versions.
"""
import argparse
import gc
import glob
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description="xarray open_mfdataset(...).load() of the daily NetCDF files")
    ap.add_argument("--data", required=True, help="directory written by era5_files.py")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--variant", choices=["default", "parallel"], default="default")
    a = ap.parse_args()

    files = sorted(glob.glob(os.path.join(a.data, "netcdf", "t2m_*.nc")))
    if not files:
        sys.exit(f"no NetCDF files under {a.data}/netcdf")
    import dask
    import netCDF4
    import xarray as xr

    dask.config.set(scheduler="threads", num_workers=a.threads)
    parallel = a.variant == "parallel"
    engine = xr.backends.plugins.guess_engine(files[0])

    def load():
        ds = xr.open_mfdataset(files, combine="by_coords", parallel=parallel)
        ds.load()
        return ds

    times, cpu = [], []
    ds = None
    for r in range(a.warmup + a.runs):
        if ds is not None:
            ds.close()
            ds = None
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        ds = load()
        dt, dc = time.perf_counter() - t0, time.process_time() - c0
        if r >= a.warmup:
            times.append(dt)
            cpu.append(dc)
        peerlib.eprint(f"{a.variant} run {r}: {dt:.3f} s")
    t2m = ds["t2m"].values
    out = {
        "suite": "ingest",
        "variant": a.variant,
        "parallel": parallel,
        "engine": engine,
        "files": len(files),
        "threads": a.threads,
        "times_s": times,
        "cpu_s": cpu,
        "shape": list(t2m.shape),
        "dtype": str(t2m.dtype),
        "raw_bytes": int(t2m.size) * 4,
        "mean": float(t2m.mean(dtype=np.float64)),
        "time_first": str(ds["time"].values[0]),
        "time_last": str(ds["time"].values[-1]),
        "versions": dict(
            peerlib.versions(["numpy", "xarray", "dask", "netCDF4", "h5netcdf", "h5py", "pandas"]),
            **{"netcdf-c": netCDF4.__netcdf4libversion__, "hdf5": netCDF4.__hdf5libversion__},
        ),
    }
    ds.close()
    peerlib.dump(out)


if __name__ == "__main__":
    main()
