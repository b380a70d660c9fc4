#!/usr/bin/env python3
"""Run the ERA5 query suite Q1-Q6 on one peer system, print answers and times as JSON.

    era5_peers.py --system SYSTEM --data DIR [--layout maps|pencils] [--runs 3]
                  [--warmup 0] [--threads 2] [--queries Q1,Q2,Q3,Q4,Q5,Q6]
                  [--addr HOST:PORT] [--array era5]
                  [--cold first|all|none] [--cold-runs 1]
                  [--evict auto|drop_caches|fadvise|none]
                  [--dask-chunks auto|day|storage]
                  [--decoded-cache off|default] [--nc-parallel-open]

SYSTEM is one of
    xarray-zarr    xr.open_zarr + Dask (threaded scheduler, --threads workers)
    xarray-netcdf  xr.open_mfdataset over the daily NetCDF4 files + Dask (threaded)
    tensorstore    zarr3 driver, context limited to --threads, reduce in numpy
    zarr           zarr-python 3 directly (threading.max_workers = --threads), numpy
    netcdf         netCDF4-python directly over the daily files (single-threaded), numpy
    arrayq-dask    arrayq.open_array(--addr, --array, chunks=..., layout=--layout) + Dask
                   (threaded): the xarray code of xarray-zarr on the arrayq server's array,
                   Dask blocks following the stored chunks of layout --layout
DIR is what era5_files.py wrote (netcdf/, zarr/maps.zarr, zarr/pencils.zarr).

The queries are those of the workload README (Q1 point series at lat 52, lon 5;
Q2 map at 2023-01-15T12:00Z or the last hour; Q3 hourly mean over lat 50..54,
lon 3..8; Q4 mean map of the first 7 days; Q5 daily max per cell of the first 7
days; Q6 mean of the cube). Every system opens the data once (timed as open_s);
each query is then timed `--runs` times. No system keeps decoded chunks between
runs (--decoded-cache off), so a warm run is one whose files sit in the page cache.
See README.md for the JSON on stdout.
"""
import argparse
import glob
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

SYSTEMS = ["xarray-zarr", "xarray-netcdf", "tensorstore", "zarr", "netcdf", "arrayq-dask"]
ALL_QUERIES = ["Q1", "Q2", "Q3", "Q4", "Q5", "Q6"]
SERIES = {"Q1", "Q3"}  # answers small enough to report in full
Q2_TIME = np.datetime64("2023-01-15T12:00:00", "ns")
POINT = (52.0, 5.0)
BOX = ((50.0, 54.0), (3.0, 8.0))  # lat, lon ranges, inclusive
BLOCK_BYTES = 64 << 20  # streaming block of the direct systems' whole-cube scan


# --------------------------------------------------------------------------- xarray

class XarrayPeer:
    """The queries as an xarray user writes them; Dask does the work."""

    def __init__(self, t2m):
        self.t = t2m

    def q1(self):
        lat, lon = POINT
        return self.t.sel(lat=lat, lon=lon, method="nearest").values

    def q2(self):
        t = self.t
        if t.time.values[0] <= Q2_TIME <= t.time.values[-1]:
            return t.sel(time=Q2_TIME).values
        return t.isel(time=-1).values

    def q3(self):
        (la0, la1), (lo0, lo1) = BOX
        # lat is descending in ERA5, so its slice runs high to low
        return self.t.sel(lat=slice(la1, la0), lon=slice(lo0, lo1)).mean(["lat", "lon"]).values

    def _week(self):
        start = self.t.time.values[0].astype("datetime64[D]")
        end = start + np.timedelta64(7, "D") - np.timedelta64(1, "h")
        return self.t.sel(time=slice(start, end))

    def q4(self):
        return self._week().mean("time").values

    def q5(self):
        return self._week().resample(time="1D").max().values

    def q6(self):
        return self.t.mean().values


def dask_chunks(mode, layout):
    """Dask chunks aligned to the storage chunks (multiples of them)."""
    if mode == "storage":
        return {}  # the encoded chunks, one Dask chunk per stored chunk
    if mode == "auto":
        return "auto"  # Dask's target size, rounded to multiples of the stored chunks
    if layout == "pencils":
        return {}  # already a whole time series per chunk
    return {"time": 24}  # 'day': 24 stored maps per Dask chunk (one daily file)


def open_xarray_zarr(a, store):
    import dask
    import xarray as xr
    import zarr

    dask.config.set(scheduler="threads", num_workers=a.threads)
    zarr.config.set({"threading.max_workers": a.threads})
    ds = xr.open_zarr(store, consolidated=False, chunks=dask_chunks(a.dask_chunks, a.layout))
    return XarrayPeer(ds["t2m"]), [store]


def open_arrayq_dask(a):
    """The arrayq server's array through the Python client's lazy open_array: the
    same XarrayPeer code as on Zarr; every Dask task reads its block with one query."""
    import arrayq
    import dask

    dask.config.set(scheduler="threads", num_workers=a.threads)
    t2m = arrayq.open_array(a.addr, a.array, chunks=dask_chunks(a.dask_chunks, a.layout),
                            layout=a.layout)
    return XarrayPeer(t2m), []


def open_xarray_netcdf(a, data):
    import dask
    import xarray as xr

    dask.config.set(scheduler="threads", num_workers=a.threads)
    files = sorted(glob.glob(os.path.join(data, "netcdf", "*.nc")))
    if not files:
        sys.exit(f"no NetCDF files under {data}/netcdf")
    # The documented recipe for many files with the same grid: combine along time,
    # skip comparing coordinates and variables that do not change.
    # parallel=True (open the files in Dask tasks) is the documented recipe, but with
    # netCDF4 >= 1.6.1 it crashes at random on the threaded scheduler (segfaults,
    # heap corruption; xarray issues #7079, #9125, #11088), seen here too. So the
    # files are opened serially unless --nc-parallel-open; reads still run on Dask.
    ds = xr.open_mfdataset(files, engine="netcdf4", parallel=a.nc_parallel_open,
                           combine="nested",
                           concat_dim="time", data_vars="minimal", coords="minimal",
                           compat="override", join="override",
                           chunks=dask_chunks(a.dask_chunks, "maps"))
    return XarrayPeer(ds["t2m"]), files


# --------------------------------------------------------------------------- direct

class Plan:
    """Index arithmetic of the queries, from the store's coordinates."""

    def __init__(self, times, lats, lons):
        self.n = len(times)
        self.i = int(np.abs(lats - POINT[0]).argmin())
        self.j = int(np.abs(lons - POINT[1]).argmin())
        (la0, la1), (lo0, lo1) = BOX
        bi = np.flatnonzero((lats >= la0) & (lats <= la1))
        bj = np.flatnonzero((lons >= lo0) & (lons <= lo1))
        self.box = (int(bi[0]), int(bi[-1]) + 1, int(bj[0]), int(bj[-1]) + 1)
        hit = np.flatnonzero(times == Q2_TIME)
        self.q2 = int(hit[0]) if hit.size else self.n - 1
        start = times[0].astype("datetime64[D]").astype(times.dtype)
        self.week = int(np.count_nonzero(times < start + np.timedelta64(7, "D")))
        self.days = self.week // 24


class DirectPeer:
    """Read the needed region with the storage library, reduce in numpy (float64
    accumulators, as a careful numpy user writes it). Subclasses provide read(),
    a blocking read of cube[t0:t1, i0:i1, j0:j1], and blocks() for the full scan."""

    plan: Plan

    def q1(self):
        p = self.plan
        return self.read(0, p.n, p.i, p.i + 1, p.j, p.j + 1)[:, 0, 0]

    def q2(self):
        p = self.plan
        return self.read(p.q2, p.q2 + 1, 0, None, 0, None)[0]

    def q3(self):
        p = self.plan
        return self.read(0, p.n, *p.box).mean(axis=(1, 2), dtype=np.float64)

    def q4(self):
        p = self.plan
        return self.read(0, p.week, 0, None, 0, None).mean(axis=0, dtype=np.float64)

    def q5(self):
        p = self.plan
        x = self.read(0, p.days * 24, 0, None, 0, None)
        return x.reshape(p.days, 24, *x.shape[1:]).max(axis=1)

    def q6(self):
        total, count = 0.0, 0
        for block in self.blocks():
            total += float(block.sum(dtype=np.float64))
            count += block.size
        return np.float64(total / count)

    def block_ranges(self, chunks, shape):
        """Slabs aligned to the storage chunks, about BLOCK_BYTES each: along time
        for map tiles, along lat for pencils (so no chunk is decoded twice)."""
        n, nlat, nlon = shape
        if chunks[0] < n:
            step = max(chunks[0], BLOCK_BYTES // (nlat * nlon * 4) // chunks[0] * chunks[0])
            return [(t, min(t + step, n), 0, nlat) for t in range(0, n, step)]
        step = max(chunks[1], BLOCK_BYTES // (n * nlon * 4) // chunks[1] * chunks[1])
        return [(0, n, i, min(i + step, nlat)) for i in range(0, nlat, step)]


def zarr_coords(store):
    """time (datetime64[ns]), lat, lon of an xarray-written Zarr v3 group."""
    import zarr

    g = zarr.open_group(store, mode="r", zarr_format=3)
    tv = g["time"]
    units = tv.attrs["units"]
    return decode_time(tv[:], units), g["lat"][:], g["lon"][:]


def decode_time(values, units):
    step, _, origin = units.partition(" since ")
    mult = {"hours": "h", "hour": "h", "seconds": "s", "minutes": "m", "days": "D"}[step.strip()]
    t0 = np.datetime64(origin.strip().replace(" ", "T"), "ns")
    return t0 + np.asarray(values).astype("int64").astype(f"timedelta64[{mult}]")


class TensorstorePeer(DirectPeer):
    def __init__(self, a, store):
        import tensorstore as ts

        ctx = ts.Context({
            "data_copy_concurrency": {"limit": a.threads},
            "file_io_concurrency": {"limit": a.threads},
            "cache_pool": {"total_bytes_limit": 0},
        })
        spec = {"driver": "zarr3",
                "kvstore": {"driver": "file", "path": os.path.join(store, "t2m")}}
        self.arr = ts.open(spec, read=True, context=ctx).result()
        self.plan = Plan(*zarr_coords(store))
        chunks = self.arr.chunk_layout.read_chunk.shape
        self.ranges = self.block_ranges(chunks, self.arr.shape)

    def _view(self, t0, t1, i0, i1, j0, j1):
        return self.arr[t0:t1, i0:i1, j0:j1]

    def read(self, t0, t1, i0, i1, j0, j1):
        return self._view(t0, t1, i0, i1, j0, j1).read().result()

    def blocks(self):
        # keep one read in flight while the previous block is reduced
        futs = [self._view(t0, t1, i0, i1, 0, None).read() for t0, t1, i0, i1 in self.ranges[:1]]
        for k in range(len(self.ranges)):
            if k + 1 < len(self.ranges):
                t0, t1, i0, i1 = self.ranges[k + 1]
                futs.append(self._view(t0, t1, i0, i1, 0, None).read())
            yield futs[k].result()
            futs[k] = None


class ZarrPeer(DirectPeer):
    def __init__(self, a, store):
        import zarr

        zarr.config.set({"threading.max_workers": a.threads})
        self.arr = zarr.open_array(os.path.join(store, "t2m"), mode="r", zarr_format=3)
        self.plan = Plan(*zarr_coords(store))
        self.ranges = self.block_ranges(self.arr.chunks, self.arr.shape)

    def read(self, t0, t1, i0, i1, j0, j1):
        return self.arr[t0:t1, i0:i1, j0:j1]

    def blocks(self):
        for t0, t1, i0, i1 in self.ranges:
            yield self.arr[t0:t1, i0:i1, :]


class NetcdfPeer(DirectPeer):
    """netCDF4-python over the daily files. netCDF-C/HDF5 are not thread-safe, so
    this peer reads on one thread, file after file."""

    def __init__(self, a, data):
        import netCDF4

        paths = sorted(glob.glob(os.path.join(data, "netcdf", "*.nc")))
        if not paths:
            sys.exit(f"no NetCDF files under {data}/netcdf")
        self.files, self.vars, self.offsets, times = [], [], [0], []
        for p in paths:
            f = netCDF4.Dataset(p, "r")
            v = f.variables["t2m"]
            v.set_auto_maskandscale(False)  # no masked arrays: the data has no gaps
            tv = f.variables["time"]
            times.append(decode_time(tv[:], tv.units))
            self.files.append(f)
            self.vars.append(v)
            self.offsets.append(self.offsets[-1] + v.shape[0])
        f0 = self.files[0]
        self.plan = Plan(np.concatenate(times), f0.variables["lat"][:].data,
                         f0.variables["lon"][:].data)
        self.paths = paths

    def read(self, t0, t1, i0, i1, j0, j1):
        parts = []
        for k, v in enumerate(self.vars):
            lo, hi = self.offsets[k], self.offsets[k + 1]
            a, b = max(t0, lo), min(t1, hi)
            if a < b:
                parts.append(v[a - lo:b - lo, i0:i1, j0:j1])
        return np.concatenate(parts, axis=0)

    def blocks(self):
        for v in self.vars:
            yield v[:]


# --------------------------------------------------------------------------- main

def preimport(system):
    mods = {"xarray-zarr": ["xarray", "dask", "dask.array", "zarr", "flox"],
            "xarray-netcdf": ["xarray", "dask", "dask.array", "netCDF4", "flox"],
            "tensorstore": ["tensorstore", "zarr"], "zarr": ["zarr"], "netcdf": ["netCDF4"],
            "arrayq-dask": ["xarray", "dask", "dask.array", "arrayq", "flox"]}
    import importlib

    for m in mods[system]:
        try:
            importlib.import_module(m)
        except ImportError:
            if m != "flox":  # optional: xarray's groupby/resample accelerator
                raise


def set_decoded_cache(a):
    """--decoded-cache off: no in-process cache of decoded chunks in any system, so a
    warm run means 'file data in the page cache', not 'answer already decoded'."""
    if "netcdf" in a.system:
        import netCDF4

        if a.decoded_cache == "off":
            size, nelems, preemption = netCDF4.get_chunk_cache()
            netCDF4.set_chunk_cache(0, nelems, preemption)
        return {"hdf5_chunk_cache_bytes": netCDF4.get_chunk_cache()[0]}
    if a.system == "tensorstore":
        return {"cache_pool_bytes": 0}  # TensorStore's default is no cache pool too
    return {}  # zarr-python and Dask keep no decoded chunks between computations


def open_system(a):
    if a.system == "arrayq-dask":
        if not a.addr:
            sys.exit("--system arrayq-dask needs --addr")
        peer, paths = open_arrayq_dask(a)
        return peer, paths, a.addr
    store = os.path.join(a.data, "zarr", f"{a.layout}.zarr")
    if a.system in ("xarray-zarr", "tensorstore", "zarr") and not os.path.isdir(store):
        sys.exit(f"no Zarr store {store} (write it with era5_files.py)")
    if a.system == "xarray-zarr":
        return open_xarray_zarr(a, store) + (store,)
    if a.system == "xarray-netcdf":
        peer, files = open_xarray_netcdf(a, a.data)
        return peer, files, os.path.join(a.data, "netcdf")
    if a.system == "tensorstore":
        return TensorstorePeer(a, store), [store], store
    if a.system == "zarr":
        return ZarrPeer(a, store), [store], store
    peer = NetcdfPeer(a, a.data)
    return peer, peer.paths, os.path.join(a.data, "netcdf")


def main():
    ap = argparse.ArgumentParser(description="ERA5 queries Q1-Q6 on a peer system")
    ap.add_argument("--system", required=True, choices=SYSTEMS)
    ap.add_argument("--data", help="directory written by era5_files.py (all but arrayq-dask)")
    ap.add_argument("--layout", choices=["maps", "pencils"], default="maps",
                    help="Zarr store for xarray-zarr/tensorstore/zarr (NetCDF is maps only)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=0,
                    help="untimed runs of each query before the timed ones (a cold run still evicts first)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--addr", help="arrayq-dask: the server (host:port or URL)")
    ap.add_argument("--array", default="era5", help="arrayq-dask: the array")
    ap.add_argument("--queries", default=",".join(ALL_QUERIES))
    ap.add_argument("--cold", choices=["first", "all", "none"], default="first",
                    help="evict the page cache before the first run (default), every run, or never")
    ap.add_argument("--cold-runs", type=int, default=1,
                    help="--cold first: how many of the first runs are cold (each after its own"
                         " eviction; the data stays open, as a running server's would)")
    ap.add_argument("--evict", choices=["auto", "drop_caches", "fadvise", "none"], default="auto",
                    help="auto: /proc/sys/vm/drop_caches if writable, else"
                         " fadvise(DONTNEED) on the data files")
    ap.add_argument("--dask-chunks", choices=["storage", "day", "auto"], default="auto",
                    help="xarray systems: auto (default; Dask's target size in multiples of"
                         " the stored chunks), a day of stored chunks, or one per stored chunk")
    ap.add_argument("--nc-parallel-open", action="store_true",
                    help="xarray-netcdf: open_mfdataset(parallel=True) (crashes at random"
                         " with netCDF4 >= 1.6.1 on threads, see README)")
    ap.add_argument("--decoded-cache", choices=["off", "default"], default="off",
                    help="in-process cache of decoded chunks: off (default: HDF5 chunk cache"
                         " 0 bytes, TensorStore cache_pool 0) or the libraries' defaults")
    a = ap.parse_args()
    queries = [q.strip().upper() for q in a.queries.split(",") if q.strip()]
    bad = [q for q in queries if q not in ALL_QUERIES]
    if bad:
        ap.error(f"unknown queries {bad}")
    if a.system != "arrayq-dask" and not a.data:
        ap.error("--data is required")
    if a.system in ("xarray-netcdf", "netcdf") and a.layout != "maps":
        ap.error("the NetCDF files exist in the map-tile layout only")

    # Opening is not part of a query: evict first so open_s is a cold open.
    if a.system == "arrayq-dask":
        evict_paths = []  # the server's files: not this process's to evict
    else:
        evict_paths = [os.path.join(a.data, "netcdf") if "netcdf" in a.system
                       else os.path.join(a.data, "zarr", f"{a.layout}.zarr")]
    opened_cold = peerlib.evict(a.evict, evict_paths) if a.cold != "none" else "none"
    # import the libraries first: open_s is the opening of the data, not Python imports
    t_import = time.perf_counter()
    preimport(a.system)
    import_s = time.perf_counter() - t_import
    cache_info = set_decoded_cache(a)
    t0 = time.perf_counter()
    peer, paths, source = open_system(a)
    open_s = time.perf_counter() - t0

    out_q = {}
    cache_used = opened_cold
    for q in queries:
        fn = getattr(peer, q.lower())
        for _ in range(a.warmup):
            fn()
        result, times, labels, used = peerlib.time_runs(fn, a.runs, a.cold, a.evict, paths,
                                                          cold_runs=a.cold_runs)
        if used != "none":
            cache_used = used
        out_q[q] = {"times_s": times, "labels": labels,
                    "answer": peerlib.digest(result, full=q in SERIES)}
        peerlib.eprint(f"{a.system} {q}: " + " ".join(f"{t * 1e3:.1f}ms" for t in times))

    versions = peerlib.versions(["numpy", "xarray", "dask", "zarr", "numcodecs", "netCDF4",
                                 "tensorstore", "flox", "pandas", "arrayq", "grpcio"])
    peerlib.dump({
        "suite": "era5",
        "system": a.system,
        "layout": a.layout,
        "source": os.path.abspath(source),
        "threads": a.threads,
        "runs": a.runs,
        "warmup": a.warmup,
        "cold": a.cold,
        "cold_runs": a.cold_runs,
        "cache_eviction": cache_used,
        "dask_chunks": a.dask_chunks if a.system.startswith("xarray") else None,
        "decoded_cache": dict(cache_info, mode=a.decoded_cache),
        "nc_parallel_open": a.nc_parallel_open if a.system == "xarray-netcdf" else None,
        "open_s": open_s,
        "import_s": import_s,
        "versions": versions,
        "queries": out_q,
    })


if __name__ == "__main__":
    main()
