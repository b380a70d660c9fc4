#!/usr/bin/env python3
"""Reference reprojection with pyproj + scipy, for arrayq's reproject tests.

    reproject_ref.py --src maps.npy [--maps FIRST:END] --grid LAT0,DLAT,LON0,DLON
                     --crs CRS --bounds=XMIN,YMIN,XMAX,YMAX --res RES
                     --ours result.npy [--ours-lonlat lonlat.npy]

`maps.npy` holds the source maps (maps, lat, lon) on the regular grid given by its
first centres and steps; `result.npy` arrayq's bilinear result (maps, y, x), with y
from the top; `lonlat.npy` arrayq's lon/lat of the target cell centres (2, y, x).
Prints JSON: how far arrayq's cell centres are from pyproj's (degrees), how far its
values are from scipy.ndimage.map_coordinates(order=1) on pyproj's coordinates
(relative), NaN cells that differ, and scipy's per-map mean over its valid cells.
"""
import argparse
import json

import numpy as np
from pyproj import Transformer
from scipy.ndimage import map_coordinates


def floats(text, n):
    v = [float(x) for x in text.split(",")]
    if len(v) != n:
        raise argparse.ArgumentTypeError(f"expected {n} numbers")
    return v


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--src", required=True)
    ap.add_argument("--grid", required=True)
    ap.add_argument("--crs", required=True)
    ap.add_argument("--bounds", required=True)
    ap.add_argument("--res", type=float, required=True)
    ap.add_argument("--ours", required=True)
    ap.add_argument("--ours-lonlat", help="arrayq's cell centres; compared with pyproj's when given")
    ap.add_argument("--maps", help="FIRST:END: only these source maps (end exclusive)")
    a = ap.parse_args()
    lat0, dlat, lon0, dlon = floats(a.grid, 4)
    xmin, ymin, xmax, ymax = floats(a.bounds, 4)
    src = np.load(a.src).astype(np.float64)
    if a.maps:
        first, end = (int(v) for v in a.maps.split(":"))
        src = src[first:end]
    ours = np.load(a.ours).astype(np.float64)
    if ours.ndim == 2:
        ours = ours[np.newaxis]

    nx = int(round((xmax - xmin) / a.res))
    ny = int(round((ymax - ymin) / a.res))
    xs = xmin + (np.arange(nx) + 0.5) * a.res
    ys = ymax - (np.arange(ny) + 0.5) * a.res
    X, Y = np.meshgrid(xs, ys)
    t = Transformer.from_crs(a.crs, "EPSG:4326", always_xy=True)
    lon, lat = t.transform(X, Y)
    deg = None
    if a.ours_lonlat:
        ours_lonlat = np.load(a.ours_lonlat)
        deg = max(
            float(np.nanmax(np.abs(ours_lonlat[0] - lon))),
            float(np.nanmax(np.abs(ours_lonlat[1] - lat))),
        )
    fi = (lat - lat0) / dlat
    fj = (lon - lon0) / dlon
    max_rel = 0.0
    nan_differ = 0
    compared = 0
    means = []
    for m in range(src.shape[0]):
        ref = map_coordinates(src[m], [fi, fj], order=1, mode="constant", cval=np.nan)
        got = ours[m]
        both = np.isfinite(ref) & np.isfinite(got)
        nan_differ += int(np.sum(np.isfinite(ref) != np.isfinite(got)))
        compared += int(both.sum())
        rel = np.abs(got[both] - ref[both]) / np.maximum(np.abs(ref[both]), 1e-12)
        max_rel = max(max_rel, float(rel.max()) if rel.size else 0.0)
        means.append(float(np.nanmean(ref)))
    print(json.dumps({
        "shape": [ny, nx],
        "max_deg_diff": deg,
        "max_rel_diff": max_rel,
        "nan_differ": nan_differ,
        "compared": compared,
        "means": means,
    }))


if __name__ == "__main__":
    main()
