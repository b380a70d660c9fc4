#!/usr/bin/env python3
"""Reprojection (workload Q7) with the tools a user would otherwise reach for; prints
times, accuracies and answer checks as one JSON object.

    reproj_peers.py --src SRC.npy --smooth SMOOTH.npy [--one-index 12] [--runs 5]
                    [--threads 2] [--systems pyproj+scipy,gdal-approx,gdal-exact]
                    [--grid 72,-0.25,-25,0.25] [--crs PROJ] [--res 10000]
                    [--bounds XMIN,YMIN,XMAX,YMAX]
                    [--arrayq-one A.npy] [--arrayq-maps A.npy] [--arrayq-smooth A.npy]

SRC.npy is float32 (maps, lat, lon): the hourly maps of the ERA5 cube to reproject
(the harness writes 2023-01-15T00Z .. 2023-01-21T23Z, 168 maps, from the Rust
generator); map `--one-index` is Q7's single map. SMOOTH.npy is float32 (lat, lon):
f = sin(2 lat) cos(lon) (radians of degrees) at the source cell centres. The source
grid is regular in degrees: `--grid LAT0,DLAT,LON0,DLON` gives the centre of cell
(0, 0) and the steps (ERA5: 72, -0.25, -25, 0.25).

The target grid: `--crs` (default `+proj=tmerc +lon_0=15 +datum=WGS84`), square
cells of `--res` metres covering `--bounds` (xmin, ymin, xmax, ymax), rows from the
top (y descending, like an image), x fastest; cell centres at xmin + (k + 0.5) res
and ymax - (k + 0.5) res. NaN where a system gives no value.

Systems (each: a first call, labelled "cold" and reported apart, then `--runs` warm
runs):
    pyproj+scipy  pyproj Transformer (target -> EPSG:4326, always_xy) on the cell
                  centres, fractional source indices, scipy.ndimage.map_coordinates
                  order=1, mode='constant', cval=NaN. One map: transform + one
                  map_coordinates; all maps: the transform once, then one
                  map_coordinates per map. Also timed: map_coordinates alone with the
                  coordinates reused ("interp_only").
    gdal-approx   rasterio.warp.reproject, bilinear, GDAL's default approximate
                  transformer (error threshold 0.125 px), num_threads = --threads,
                  all maps as the bands of one call.
    gdal-exact    rasterio.vrt.WarpedVRT over an in-memory GTiff of the maps (setup
                  untimed), bilinear, tolerance 1e-6, NUM_THREADS = --threads; a run
                  opens the VRT and reads every band.

Accuracy: every system reprojects SMOOTH.npy; errors are against f evaluated in
float64 at the lon/lat of each target cell centre (pyproj), max and RMS of the
absolute error over the cells every system (and arrayq, when given) has a value
for; each system's own count of valid cells is reported too.

Answer checks (with the --arrayq-* files, the harness's results from arrayqd):
arrayq's maps against pyproj+scipy's (max absolute difference where both have a
value, cells where only one has), and arrayq's smooth field in the accuracy table.
"""
import argparse
import gc
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

SYSTEMS = ["pyproj+scipy", "gdal-approx", "gdal-exact"]
DEFAULT_CRS = "+proj=tmerc +lon_0=15 +datum=WGS84"
DEFAULT_BOUNDS = "-2020000,4040000,1400000,7450000"
EXACT_TOLERANCE = 1e-6


class Target:
    """The target grid and its cell centres."""

    def __init__(self, crs, res, bounds):
        self.crs = crs
        self.res = float(res)
        self.xmin, self.ymin, self.xmax, self.ymax = bounds
        self.width = int(round((self.xmax - self.xmin) / self.res))
        self.height = int(round((self.ymax - self.ymin) / self.res))
        self.x = self.xmin + (np.arange(self.width) + 0.5) * self.res
        self.y = self.ymax - (np.arange(self.height) + 0.5) * self.res

    @property
    def shape(self):
        return (self.height, self.width)

    def transform(self):
        from rasterio.transform import Affine

        return Affine(self.res, 0.0, self.xmin, 0.0, -self.res, self.ymax)


class Grid:
    """The regular lat/lon source grid (cell centres)."""

    def __init__(self, lat0, dlat, lon0, dlon, shape):
        self.lat0, self.dlat, self.lon0, self.dlon = lat0, dlat, lon0, dlon
        self.n_lat, self.n_lon = shape

    def transform(self):
        from rasterio.transform import Affine

        # pixel edges half a step outside the first centres
        return Affine(self.dlon, 0.0, self.lon0 - self.dlon / 2,
                      0.0, self.dlat, self.lat0 - self.dlat / 2)


def lonlat(target):
    """lon, lat (degrees, float64, target.shape) of every target cell centre."""
    from pyproj import Transformer

    tr = Transformer.from_crs(target.crs, "EPSG:4326", always_xy=True)
    xx, yy = np.meshgrid(target.x, target.y)
    return tr.transform(xx, yy)


# --------------------------------------------------------------------------- systems

class ScipyPeer:
    """pyproj for the cell centres, scipy for the bilinear interpolation."""

    def __init__(self, grid, target):
        self.grid, self.target = grid, target

    def coords(self):
        lon, lat = lonlat(self.target)
        g = self.grid
        return np.stack([(lat - g.lat0) / g.dlat, (lon - g.lon0) / g.dlon])

    @staticmethod
    def interp(src2d, coords):
        from scipy.ndimage import map_coordinates

        return map_coordinates(src2d, coords, order=1, mode="constant", cval=np.nan,
                               prefilter=False)

    def one(self, src2d):
        return self.interp(src2d, self.coords())

    def maps(self, src3d):
        c = self.coords()
        out = np.empty((src3d.shape[0],) + self.target.shape, np.float32)
        for k in range(src3d.shape[0]):
            out[k] = self.interp(src3d[k], c)
        return out


class GdalApprox:
    """rasterio.warp.reproject with GDAL's defaults (approximate transformer)."""

    def __init__(self, grid, target, threads):
        self.grid, self.target, self.threads = grid, target, threads

    def _run(self, src):
        from rasterio.enums import Resampling
        from rasterio.warp import reproject

        dst = np.full(src.shape[:-2] + self.target.shape, np.nan, np.float32)
        reproject(source=src, destination=dst,
                  src_transform=self.grid.transform(), src_crs="EPSG:4326",
                  src_nodata=np.nan,
                  dst_transform=self.target.transform(), dst_crs=self.target.crs,
                  dst_nodata=np.nan, resampling=Resampling.bilinear,
                  num_threads=self.threads)
        return dst

    def one(self, src2d):
        return self._run(src2d)

    def maps(self, src3d):
        return self._run(src3d)


class GdalExact:
    """A WarpedVRT with a near-zero tolerance (exact transform per pixel) over an
    in-memory GTiff of the source, opened once per input."""

    def __init__(self, grid, target, threads):
        self.grid, self.target, self.threads = grid, target, threads
        self._open = {}
        self._files = []

    def dataset(self, src):
        key = id(src)
        if key not in self._open:
            from rasterio.io import MemoryFile

            bands = src.reshape((-1,) + src.shape[-2:])
            mf = MemoryFile()
            with mf.open(driver="GTiff", width=bands.shape[2], height=bands.shape[1],
                         count=bands.shape[0], dtype="float32", crs="EPSG:4326",
                         transform=self.grid.transform(), nodata=np.nan) as w:
                w.write(bands)
            ds = mf.open()
            ds.read()  # into GDAL's block cache, as the other systems' arrays are in memory
            self._files.append(mf)
            self._open[key] = (ds, src)
        return self._open[key][0]

    def _run(self, src):
        from rasterio.enums import Resampling
        from rasterio.vrt import WarpedVRT

        ds = self.dataset(src)
        h, w = self.target.shape
        with WarpedVRT(ds, crs=self.target.crs, transform=self.target.transform(),
                       width=w, height=h, resampling=Resampling.bilinear,
                       tolerance=EXACT_TOLERANCE, src_nodata=np.nan, nodata=np.nan,
                       dtype="float32", warp_extras={"NUM_THREADS": self.threads}) as vrt:
            out = vrt.read()
        return out.reshape(src.shape[:-2] + self.target.shape)

    def one(self, src2d):
        return self._run(src2d)

    def maps(self, src3d):
        return self._run(src3d)


def make(name, grid, target, threads):
    if name == "pyproj+scipy":
        return ScipyPeer(grid, target)
    if name == "gdal-approx":
        return GdalApprox(grid, target, threads)
    return GdalExact(grid, target, threads)


# --------------------------------------------------------------------------- timing

def timed(fn, runs):
    """A first call (labelled cold: nothing of it cached yet), then `runs` warm ones."""
    times, labels, result = [], [], None
    for r in range(runs + 1):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        labels.append("cold" if r == 0 else "warm")
    return result, {"times_s": times, "labels": labels}


def describe(name, what, t):
    warm = sorted(t["times_s"][1:])
    med = warm[len(warm) // 2] if warm else float("nan")
    peerlib.eprint(f"{name} {what}: first {t['times_s'][0] * 1e3:.1f} ms, "
                   f"warm median {med * 1e3:.1f} ms")


# --------------------------------------------------------------------------- checks

def errors(field, exact, mask):
    d = np.abs(field.astype(np.float64) - exact)[mask]
    if d.size == 0:
        return {"max_err": None, "rms_err": None, "cells": 0}
    return {"max_err": float(d.max()), "rms_err": float(np.sqrt(np.mean(d * d))),
            "cells": int(d.size)}


def compare(got, want):
    """arrayq's maps against pyproj+scipy's: where both have values, and where one has."""
    got = np.asarray(got, np.float32)
    if got.shape != want.shape:
        return {"shape": list(got.shape), "want_shape": list(want.shape), "ok": False,
                "why": f"shape {list(got.shape)}, expected {list(want.shape)}"}
    both = np.isfinite(got) & np.isfinite(want)
    only_one = int((np.isfinite(got) != np.isfinite(want)).sum())
    diff = float(np.abs(got[both].astype(np.float64) - want[both]).max()) if both.any() else 0.0
    scale = float(np.abs(want[both]).max()) if both.any() else 1.0
    return {"shape": list(got.shape), "valid": int(np.isfinite(got).sum()),
            "valid_reference": int(np.isfinite(want).sum()), "max_abs_diff": diff,
            "cells_valid_in_one_only": only_one,
            "ok": bool(diff <= 1e-4 * max(scale, 1.0) and only_one == 0),
            "why": None}


def load(path):
    return None if not path else np.load(path)


def main():
    ap = argparse.ArgumentParser(description="Q7 reprojection on pyproj+scipy and GDAL")
    ap.add_argument("--src", required=True, help="float32 (maps, lat, lon) .npy")
    ap.add_argument("--smooth", required=True, help="float32 (lat, lon) .npy of the smooth field")
    ap.add_argument("--one-index", type=int, default=12, help="the single map of Q7")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--systems", default=",".join(SYSTEMS))
    ap.add_argument("--grid", default="72,-0.25,-25,0.25", help="LAT0,DLAT,LON0,DLON")
    ap.add_argument("--crs", default=DEFAULT_CRS)
    ap.add_argument("--res", type=float, default=10000.0)
    ap.add_argument("--bounds", default=DEFAULT_BOUNDS, help="XMIN,YMIN,XMAX,YMAX")
    ap.add_argument("--arrayq-one", help="arrayq's single map (float32 .npy)")
    ap.add_argument("--arrayq-maps", help="arrayq's maps (float32 (maps, y, x) .npy)")
    ap.add_argument("--arrayq-smooth", help="arrayq's smooth field (float32 (y, x) .npy)")
    a = ap.parse_args()
    systems = [s.strip() for s in a.systems.split(",") if s.strip()]
    bad = [s for s in systems if s not in SYSTEMS]
    if bad:
        ap.error(f"unknown systems {bad}")

    src = np.ascontiguousarray(np.load(a.src), dtype=np.float32)
    smooth = np.ascontiguousarray(np.load(a.smooth), dtype=np.float32)
    if src.ndim != 3 or smooth.shape != src.shape[1:]:
        ap.error(f"--src {src.shape} and --smooth {smooth.shape} do not match")
    lat0, dlat, lon0, dlon = (float(v) for v in a.grid.split(","))
    grid = Grid(lat0, dlat, lon0, dlon, smooth.shape)
    target = Target(a.crs, a.res, [float(v) for v in a.bounds.split(",")])
    one = np.ascontiguousarray(src[a.one_index])
    peerlib.eprint(f"source {src.shape}, target {target.shape} ({a.crs})")

    out = {}
    results = {}
    for name in systems:
        peer = make(name, grid, target, a.threads)
        r_one, t_one = timed(lambda: peer.one(one), a.runs)
        describe(name, "one map", t_one)
        r_maps, t_maps = timed(lambda: peer.maps(src), max(1, a.runs))
        describe(name, f"{src.shape[0]} maps", t_maps)
        r_smooth = peer.one(smooth)
        entry = {"one_map": t_one, "maps": t_maps}
        if name == "pyproj+scipy":
            coords = peer.coords()
            _, t_interp = timed(lambda: peer.interp(one, coords), a.runs)
            describe(name, "map_coordinates alone", t_interp)
            entry["interp_only"] = t_interp
            _, t_tr = timed(peer.coords, a.runs)
            entry["transform_only"] = t_tr
        entry["valid_cells"] = int(np.isfinite(r_one).sum())
        out[name] = entry
        results[name] = (r_one, r_maps, r_smooth)

    # Accuracy on the smooth field, over the cells every system has a value for.
    lon, lat = lonlat(target)
    exact = np.sin(np.radians(2.0 * lat)) * np.cos(np.radians(lon))
    fields = {n: r[2] for n, r in results.items()}
    aq_smooth = load(a.arrayq_smooth)
    arrayq = {}
    if aq_smooth is not None:
        if aq_smooth.shape == target.shape:
            fields["arrayq"] = aq_smooth
        else:
            arrayq["smooth_shape_error"] = (f"shape {list(aq_smooth.shape)}, "
                                            f"expected {list(target.shape)}")
    mask = np.ones(target.shape, bool)
    for f in fields.values():
        mask &= np.isfinite(f)
    accuracy = {}
    for n, f in fields.items():
        accuracy[n] = errors(f, exact, mask)
        accuracy[n]["own"] = errors(f, exact, np.isfinite(f))
        accuracy[n]["valid_cells"] = int(np.isfinite(f).sum())
        peerlib.eprint(f"{n} smooth field: max err {accuracy[n]['max_err']:.3g}, "
                       f"rms {accuracy[n]['rms_err']:.3g} over {accuracy[n]['cells']} cells")

    # arrayq's answers against pyproj+scipy's.
    if "pyproj+scipy" in results:
        ref_one, ref_maps, _ = results["pyproj+scipy"]
        got = load(a.arrayq_one)
        if got is not None:
            arrayq["one_map"] = compare(got, ref_one)
        got = load(a.arrayq_maps)
        if got is not None:
            arrayq["maps"] = compare(got, ref_maps)
        for n, (r_one, r_maps, _) in results.items():
            if n != "pyproj+scipy":
                out[n]["vs_scipy"] = compare(r_maps, ref_maps)

    peerlib.dump({
        "suite": "reproj",
        "threads": a.threads,
        "runs": a.runs,
        "source_shape": list(src.shape),
        "target": {"crs": a.crs, "res": a.res, "bounds": [target.xmin, target.ymin,
                                                          target.xmax, target.ymax],
                   "shape": list(target.shape)},
        "exact_tolerance_px": EXACT_TOLERANCE,
        "versions": peerlib.versions(["numpy", "scipy", "pyproj", "rasterio"]) | gdal_proj(),
        "systems": out,
        "accuracy": accuracy,
        "accuracy_cells": int(mask.sum()),
        "arrayq": arrayq,
    })


def gdal_proj():
    out = {}
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:
        out["gdal"] = None
    try:
        import pyproj

        out["proj"] = pyproj.proj_version_str
    except ImportError:
        out["proj"] = None
    return out


if __name__ == "__main__":
    main()
