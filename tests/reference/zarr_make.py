#!/usr/bin/env python3
"""Writes Zarr stores as xarray writes them, and what xarray reads from them, for
the tests of `arrayq load zarr`.

    zarr_make.py --outdir DIR

Stores (48 hours on an 8 x 9 grid, latitude descending):
  v2.zarr v3.zarr   the same Dataset, ds.to_zarr(zarr_format=2 / 3): t2m packed as
                    int16 (scale_factor, add_offset, _FillValue on a few cells), u10
                    float32 with NaNs, sp float64; time in hours since 1900-01-01
                    (int64, gregorian); t2m chunked 12 hours at a time
  corrupt.zarr      v3.zarr with one chunk file of t2m cut in half
Expected values (xarray's decoding) go to expected_<var>.npy (float64, NaN where
missing); JSON on stdout gives the shape and the t2m attributes.
"""
import argparse
import json
import os
import shutil

import numpy as np
import pandas as pd
import xarray as xr

LAT = np.arange(52.0, 50.0, -0.25)  # 8
LON = np.arange(3.0, 5.25, 0.25)  # 9
TIME = pd.date_range("2023-01-01", periods=48, freq="h")


def dataset():
    h = np.arange(len(TIME))[:, None, None]
    la = LAT[None, :, None]
    lo = LON[None, None, :]
    t2m = 280 + 5 * np.sin(0.3 * h + la / 7) + 0.1 * lo + 0.01 * h
    t2m[h[:, 0, 0] % 7 == 0, 2, 3] = np.nan  # packed as the _FillValue
    u10 = (3 * np.cos(0.2 * h - lo / 3) + 0.05 * la + 0 * la).astype(np.float32)
    u10[5, 1, :] = np.nan
    sp = 101325.0 + 10 * np.sin(0.1 * h + lo) + 0 * la
    ds = xr.Dataset(
        {
            "t2m": (("time", "latitude", "longitude"), t2m),
            "u10": (("time", "latitude", "longitude"), u10),
            "sp": (("time", "latitude", "longitude"), sp),
        },
        coords={"time": TIME, "latitude": LAT, "longitude": LON},
    )
    ds.t2m.attrs.update(units="K", long_name="2 metre temperature")
    ds.u10.attrs.update(units="m s**-1", long_name="10 metre U wind component")
    ds.latitude.attrs.update(units="degrees_north")
    ds.attrs.update(Conventions="CF-1.7")
    ds.t2m.encoding.update(
        dtype="int16", scale_factor=0.0005, add_offset=285.0, _FillValue=-32767,
        chunks=(12, 8, 9),
    )
    ds.time.encoding.update(
        units="hours since 1900-01-01 00:00:00", calendar="gregorian", dtype="int64"
    )
    return ds


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--outdir", required=True)
    out = p.parse_args().outdir
    ds = dataset()
    ds.to_zarr(os.path.join(out, "v2.zarr"), zarr_format=2, consolidated=True)
    ds.to_zarr(os.path.join(out, "v3.zarr"), zarr_format=3, consolidated=False)
    for fmt in ("v2", "v3"):
        back = xr.open_zarr(os.path.join(out, f"{fmt}.zarr"), consolidated=fmt == "v2")
        for v in ("t2m", "u10", "sp"):
            np.save(os.path.join(out, f"expected_{fmt}_{v}.npy"),
                    back[v].values.astype(np.float64))
    corrupt = os.path.join(out, "corrupt.zarr")
    shutil.copytree(os.path.join(out, "v3.zarr"), corrupt)
    chunk = os.path.join(corrupt, "t2m", "c", "1", "0", "0")
    data = open(chunk, "rb").read()
    open(chunk, "wb").write(data[: len(data) // 2])
    print(json.dumps({"shape": list(ds.t2m.shape), "t2m_attrs": dict(back.t2m.attrs)}))


if __name__ == "__main__":
    main()
