"""Helpers shared by arrayq's benchmark peers (era5_files, era5_peers, energy_pg,
reproj_peers).

Nothing here imports a peer library at module level, so `versions()` can report
whatever is installed and the scripts fail with a clear message if a peer is missing.
"""
import gc
import json
import math
import os
import sys
import time

import numpy as np

# Values shown at each end of an array answer (flattened, C order).
EDGE = 5

# Relative tolerance used to compare sums and means of float32 data (README.md).
REL_TOL = 1e-5


def eprint(*args):
    print(*args, file=sys.stderr, flush=True)


def versions(names):
    """{distribution: version} for the given distribution names (None if missing)."""
    from importlib import metadata

    out = {"python": sys.version.split()[0]}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = None
    return out


PEER_PACKAGES = [
    "numpy", "xarray", "dask", "zarr", "numcodecs", "netCDF4", "tensorstore",
    "pandas", "flox", "scipy", "pyproj", "rasterio", "psycopg", "psycopg-binary", "psycopg2-binary",
]


def digest(value, full=False):
    """JSON-able summary of an answer: shape, float64 sum, first/last values.

    `full` also includes every value (flattened), for series answers (Q1, Q3, E1...).
    """
    a = np.asarray(value)
    if a.ndim == 0:
        v = float(a)
        return {"shape": [], "dtype": str(a.dtype), "value": v, "sum": v}
    flat = a.reshape(-1)
    out = {
        "shape": list(a.shape),
        "dtype": str(a.dtype),
        "sum": float(flat.astype(np.float64).sum()),
        "head": [float(x) for x in flat[:EDGE]],
        "tail": [float(x) for x in flat[-EDGE:]],
    }
    if full:
        out["values"] = [float(x) for x in flat]
    return out


# --------------------------------------------------------------------------- cache

def _drop_caches():
    """Drop the kernel's page cache (needs root and a writable /proc/sys)."""
    try:
        os.sync()
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return True
    except OSError:
        return False


def fadvise_evict(paths):
    """Ask the kernel to evict the page cache of these files (works unprivileged
    for clean pages; the files are fsynced first so their pages are clean)."""
    ok = True
    for p in paths:
        try:
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            ok = False
            continue
        try:
            try:
                os.fsync(fd)
            except OSError:
                pass
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        except (OSError, AttributeError):
            ok = False
        finally:
            os.close(fd)
    return ok


def files_under(path):
    """Every regular file under path (or path itself)."""
    if os.path.isfile(path):
        return [path]
    out = []
    for root, _, names in os.walk(path):
        out.extend(os.path.join(root, n) for n in names)
    return out


def evict(method, paths):
    """Evict the page cache before a cold run. method: drop_caches | fadvise | auto |
    none. Returns the method that worked ('drop_caches', 'fadvise') or 'none'."""
    if method == "none":
        return "none"
    if method in ("auto", "drop_caches") and _drop_caches():
        return "drop_caches"
    if method == "drop_caches":
        return "none"
    files = []
    for p in paths:
        files.extend(files_under(p))
    return "fadvise" if files and fadvise_evict(files) else "none"


# --------------------------------------------------------------------------- timing

def time_runs(fn, runs, cold, evict_method, evict_paths, before_cold=None, cold_runs=1):
    """Run fn() `runs` times; returns (last result, times_s, labels, evicted_by).

    cold: 'first' evicts the cache before each of the first `cold_runs` runs only
    (one by default), 'all' before every run, 'none' never. A run is labelled 'cold' when the eviction worked, 'warm'
    otherwise (after an earlier run or a failed eviction, the data may be cached).
    `before_cold` (optional) runs before each eviction, e.g. a server restart.
    """
    times, labels, result, used = [], [], None, "none"
    for r in range(runs):
        want_cold = cold == "all" or (cold == "first" and r < cold_runs)
        label = "warm"
        if want_cold:
            if before_cold is not None:
                before_cold()
            used = evict(evict_method, evict_paths)
            label = "cold" if used != "none" else ("cold-ish" if r < cold_runs else "warm")
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        labels.append(label)
    return result, times, labels, used


def close_enough(a, b, rel=REL_TOL, abs_floor=0.0):
    """Relative comparison with an optional absolute floor (for values near 0)."""
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return abs(a - b) <= max(rel * max(abs(a), abs(b)), abs_floor)


def dump(obj):
    json.dump(obj, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    sys.stdout.flush()


def dir_bytes(path):
    return sum(os.path.getsize(p) for p in files_under(path))
