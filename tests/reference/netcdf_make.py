#!/usr/bin/env python3
"""Writes NetCDF files as ERA5 downloads look (netCDF4-python), and what xarray
reads from them, for the tests of `arrayq load netcdf`.

    netcdf_make.py --outdir DIR

Files (a 10 x 12 grid, latitude descending, hourly):
  day1.nc day2.nc day3.nc  NetCDF-4: t2m packed as int16 (scale_factor, add_offset,
                           _FillValue on a few cells), u10 float32 with
                           missing_value; valid_time in hours since 1900-01-01
  day4_classic.nc          NetCDF-3 classic, time in seconds since 1970-01-01
  day6.nc                  the day after a missing day 5 (a gap)
  overlap.nc               half of day 2 again
  truncated.nc             day1.nc cut in half
  day5_corrupt.nc          day 5, t2m zlib-compressed in one chunk per hour, with
                           one chunk's bytes overwritten: the header and the
                           coordinates read, t2m does not (checked here)
Expected values (xarray's decoding of day1..day4, concatenated) go to
expected_t2m.npy and expected_u10.npy (float64, NaN where missing); JSON on
stdout gives the time axis.
"""
import argparse
import json
import os
import shutil

import numpy as np
import netCDF4
import xarray as xr

LAT = np.arange(50.0, 47.5, -0.25)  # 10
LON = np.arange(3.0, 6.0, 0.25)  # 12
HOURS_1900 = 1_078_200  # 2023-01-01T00:00Z in hours since 1900-01-01


def field(h, name):
    la = LAT[:, None]
    lo = LON[None, :]
    if name == "t2m":
        return 280 + 5 * np.sin(0.3 * h + la / 7) + 0.1 * lo + 0.01 * h
    return 3 * np.cos(0.2 * h - lo / 3) + 0.05 * la


def write(path, hours, fmt="NETCDF4", seconds=False, zlib=False):
    ds = netCDF4.Dataset(path, "w", format=fmt)
    ds.createDimension("valid_time", None if fmt == "NETCDF4" else len(hours))
    ds.createDimension("latitude", len(LAT))
    ds.createDimension("longitude", len(LON))
    t = ds.createVariable("valid_time", "f8" if not seconds else "i4", ("valid_time",))
    if seconds:
        t.units = "seconds since 1970-01-01"
        t[:] = [1_672_531_200 + 3600 * h for h in hours]
    else:
        t.units = "hours since 1900-01-01 00:00:00.0"
        t[:] = [HOURS_1900 + h for h in hours]
    t.calendar = "gregorian"
    t.long_name = "time"
    ds.Conventions = "CF-1.7"
    la = ds.createVariable("latitude", "f8", ("latitude",))
    la[:] = LAT
    la.units = "degrees_north"
    lo = ds.createVariable("longitude", "f8", ("longitude",))
    lo[:] = LON
    lo.units = "degrees_east"
    # No shuffle: the chunk's bytes are then plain zlib, which corrupt_one_chunk finds.
    compress = dict(zlib=True, complevel=4, shuffle=False, chunksizes=(1, len(LAT), len(LON)))
    compress = compress if zlib else {}
    t2m = ds.createVariable(
        "t2m", "i2", ("valid_time", "latitude", "longitude"), fill_value=-32767, **compress
    )
    t2m.scale_factor = 0.0005
    t2m.add_offset = 285.0
    t2m.units = "K"
    t2m.long_name = "2 metre temperature"
    t2m.standard_name = "air_temperature"
    u10 = ds.createVariable("u10", "f4", ("valid_time", "latitude", "longitude"))
    u10.missing_value = np.float32(-9999.0)
    u10.set_auto_maskandscale(False)
    t2m.set_auto_maskandscale(False)
    for k, h in enumerate(hours):
        v = field(h, "t2m")
        packed = np.round((v - 285.0) / 0.0005).astype(np.int16)
        if h % 7 == 0:
            packed[h % 10, h % 12] = -32767
        t2m[k] = packed
        u = field(h, "u10").astype(np.float32)
        if h % 5 == 0:
            u[(h + 3) % 10, (h + 1) % 12] = -9999.0
        u10[k] = u
    ds.close()


def corrupt_one_chunk(path, hours):
    """Overwrites the middle of the compressed t2m chunk of the file's middle hour
    (found by its zlib bytes, which HDF5's deflate filter writes as zlib does), then
    checks that the coordinates still read and t2m does not. Returns whether it did."""
    import zlib

    h = hours[len(hours) // 2]
    v = field(h, "t2m")
    packed = np.round((v - 285.0) / 0.0005).astype(np.int16)
    if h % 7 == 0:
        packed[h % 10, h % 12] = -32767
    stream = zlib.compress(packed.tobytes(), 4)
    data = bytearray(open(path, "rb").read())
    at = data.find(stream[:24])
    if at < 0:
        return False
    mid = at + len(stream) // 2
    data[mid : mid + 16] = b"\xff" * 16
    open(path, "wb").write(bytes(data))
    ds = netCDF4.Dataset(path)
    try:
        ds["valid_time"][:]
        ds["latitude"][:]
        try:
            ds["t2m"][:]
            return False
        except Exception:
            return True
    finally:
        ds.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--outdir", required=True)
    d = ap.parse_args().outdir
    p = lambda n: os.path.join(d, n)
    write(p("day1.nc"), range(0, 24))
    write(p("day2.nc"), range(24, 48))
    write(p("day3.nc"), range(48, 72))
    write(p("day4_classic.nc"), range(72, 96), fmt="NETCDF3_CLASSIC", seconds=True)
    write(p("day6.nc"), range(120, 144))
    write(p("overlap.nc"), range(36, 60))
    write(p("day5_corrupt.nc"), range(96, 120), zlib=True)
    corrupt_ok = corrupt_one_chunk(p("day5_corrupt.nc"), list(range(96, 120)))
    shutil.copy(p("day1.nc"), p("truncated.nc"))
    size = os.path.getsize(p("truncated.nc"))
    with open(p("truncated.nc"), "r+b") as f:
        f.truncate(size // 2)
    ds = xr.concat(
        [xr.open_dataset(p(n)) for n in ["day1.nc", "day2.nc", "day3.nc", "day4_classic.nc"]],
        dim="valid_time",
    )
    np.save(p("expected_t2m.npy"), ds["t2m"].values.astype(np.float64))
    np.save(p("expected_u10.npy"), ds["u10"].values.astype(np.float64))
    times = [str(np.datetime_as_string(t, unit="s")) + "Z" for t in ds["valid_time"].values]
    print(json.dumps({"times": times, "shape": list(ds["t2m"].shape), "corrupt_chunk": corrupt_ok}))


if __name__ == "__main__":
    main()
