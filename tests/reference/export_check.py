#!/usr/bin/env python3
"""Checks what `arrayq export zarr|netcdf` wrote against xarray's own reading of
the store the array was loaded from, for the export test.

    export_check.py --source v3.zarr --outdir DIR [--attrs]

DIR holds range.{v2.zarr,v3.zarr,nc} (t2m and u10 over 12 hours), scalar.* (the
mean of sp) and bytime.* (the hourly mean of t2m over the grid). Every export is
opened the way a user would (xarray.open_zarr with its consolidated metadata,
xarray.open_dataset) and compared with the same selection computed by xarray on
the source; with --attrs the CF attributes must have come along too. Prints one
line per export checked; any difference raises.
"""
import argparse
import os
import warnings

import numpy as np
import xarray as xr

warnings.simplefilter("error")  # a missing consolidated metadata warns: fail then
T0, T1 = "2023-01-01T06:00:00", "2023-01-01T17:00:00"


def close(got, want, what):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shape {got.shape}, want {want.shape}"
    assert np.array_equal(np.isnan(got), np.isnan(want)), f"{what}: NaNs differ"
    ok = np.isnan(want) | np.isclose(got, want, rtol=1e-6, atol=0)
    assert ok.all(), f"{what}: {got[~ok][:5]} vs {want[~ok][:5]}"


def opened(path):
    if path.endswith(".nc"):
        return xr.open_dataset(path)
    return xr.open_zarr(path, consolidated=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--source", required=True)
    p.add_argument("--outdir", required=True)
    p.add_argument("--attrs", action="store_true")
    a = p.parse_args()
    src = xr.open_zarr(a.source, consolidated=False)
    want_range = src[["t2m", "u10"]].sel(time=slice(T0, T1))
    for ext in ("v2.zarr", "v3.zarr", "nc"):
        path = os.path.join(a.outdir, f"range.{ext}")
        ds = opened(path)
        assert ds.time.dtype.kind == "M", f"{path}: time is {ds.time.dtype}"
        assert (ds.time.values == want_range.time.values).all(), f"{path}: times"
        close(ds.latitude, want_range.latitude, f"{path} latitude")
        close(ds.longitude, want_range.longitude, f"{path} longitude")
        for v in ("t2m", "u10"):
            assert ds[v].dims == ("time", "latitude", "longitude"), ds[v].dims
            assert ds[v].dtype == np.float32, f"{path} {v}: {ds[v].dtype}"
            close(ds[v].values, want_range[v].values, f"{path} {v}")
            if a.attrs:
                for k in ("units", "long_name"):
                    assert ds[v].attrs.get(k) == src[v].attrs[k], (
                        f"{path} {v}.{k}: {ds[v].attrs.get(k)!r}, want {src[v].attrs[k]!r}")
        if a.attrs:
            assert ds.latitude.attrs.get("units") == "degrees_north", ds.latitude.attrs
        print(f"{path}: ok")

        path = os.path.join(a.outdir, f"scalar.{ext}")
        ds = opened(path)
        assert ds.mean_sp.dims == (), ds.mean_sp.dims
        close(ds.mean_sp.values, src.sp.mean().values, f"{path} mean_sp")
        print(f"{path}: ok")

        path = os.path.join(a.outdir, f"bytime.{ext}")
        ds = opened(path)
        want = src.t2m.mean(("latitude", "longitude"))
        assert (ds.time.values == want.time.values).all(), f"{path}: times"
        close(ds.t2m_mean.values, want.values, f"{path} t2m_mean")
        print(f"{path}: ok")


if __name__ == "__main__":
    main()
