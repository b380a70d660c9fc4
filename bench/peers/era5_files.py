#!/usr/bin/env python3
"""Write the ERA5-like cube in the peers' formats: NetCDF4 (one file per day, as ERA5
downloads come) and Zarr v3 (map tiles, optionally pencils).

    era5_files.py --npy CUBE.npy --out DIR [--scale S]
                  [--formats netcdf,zarr,zarr-pencils]
                  [--nc-compression zlib|zstd|none] [--nc-level N]
                  [--zarr-codec zstd|blosc-zstd] [--zarr-level N] [--threads 2]

The cube is a float32 .npy of shape (time, 153, 281) in the workload's storage order
(written by arrayq-bench from its Rust generator, or by
`tests/reference/workload_ref.py --era5 SCALE --out CUBE.npy`).

Layout of DIR:

    netcdf/t2m_YYYYMMDD.nc   t2m(time, lat, lon), chunks (1, 153, 281)
    zarr/maps.zarr           Zarr v3 group: t2m chunks (1, 153, 281), time, lat, lon
    zarr/pencils.zarr        same with t2m chunks (n_time, 8, 8)
    manifest.json            what was written (also printed on stdout)

Stdout: one JSON object (see README.md).
"""
import argparse
import os
import shutil
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402

N_LAT, N_LON = 153, 281
LATS = 72.0 - 0.25 * np.arange(N_LAT)
LONS = -25.0 + 0.25 * np.arange(N_LON)
T0 = np.datetime64("2023-01-01T00:00:00", "ns")
HOURS = {"XS": 48, "S": 744, "M": 8760}
TIME_UNITS = "hours since 1900-01-01 00:00:00"  # as in classic ERA5 NetCDF downloads


def dataset(cube, h0, h1):
    """An xarray Dataset of hours h0..h1-1 with CF coordinates and attributes."""
    import xarray as xr

    times = T0 + np.arange(h0, h1).astype("timedelta64[h]")
    ds = xr.Dataset(
        {"t2m": (("time", "lat", "lon"), np.asarray(cube[h0:h1]))},
        coords={"time": times, "lat": LATS, "lon": LONS},
    )
    ds["t2m"].attrs.update(units="K", long_name="2 metre temperature",
                           standard_name="air_temperature")
    ds["lat"].attrs.update(units="degrees_north", long_name="latitude",
                           standard_name="latitude", axis="Y")
    ds["lon"].attrs.update(units="degrees_east", long_name="longitude",
                           standard_name="longitude", axis="X")
    ds["time"].attrs.update(long_name="time", standard_name="time", axis="T")
    ds.attrs.update(Conventions="CF-1.8", title="arrayq synthetic ERA5-like t2m",
                    source="arrayq workload (closed formulas, see workload README)")
    return ds


def time_encoding():
    return {"units": TIME_UNITS, "calendar": "proleptic_gregorian", "dtype": "int64"}


def write_netcdf(cube, out, compression, level):
    d = os.path.join(out, "netcdf")
    os.makedirs(d)
    n = cube.shape[0]
    enc = {"chunksizes": (1, N_LAT, N_LON)}
    if compression == "zlib":
        enc.update(zlib=True, complevel=level, shuffle=True)
    elif compression == "zstd":
        enc.update(compression="zstd", complevel=level, shuffle=True)
    files = []
    for h0 in range(0, n, 24):
        h1 = min(h0 + 24, n)
        day = (T0 + np.timedelta64(h0, "h")).astype("datetime64[D]")
        path = os.path.join(d, f"t2m_{str(day).replace('-', '')}.nc")
        dataset(cube, h0, h1).to_netcdf(
            path, engine="netcdf4", format="NETCDF4",
            encoding={"t2m": enc, "time": time_encoding()})
        files.append(path)
    return {"path": d, "files": len(files), "chunks": [1, N_LAT, N_LON],
            "compression": nc_filters(files[0])}


def nc_filters(path):
    """The filters HDF5 really applied (netCDF4-python drops shuffle with zstd)."""
    import netCDF4

    with netCDF4.Dataset(path) as f:
        flt = f.variables["t2m"].filters()
    names = [k for k in ("zlib", "zstd", "blosc", "bzip2", "szip") if flt.get(k)]
    if not names:
        return "none"
    return f"{names[0]} level {flt.get('complevel')}" + (" + shuffle" if flt.get("shuffle") else "")


def zarr_codec(codec, level):
    from zarr.codecs import BloscCodec, ZstdCodec

    if codec == "zstd":
        return ZstdCodec(level=level), f"zstd level {level}"
    return (BloscCodec(cname="zstd", clevel=level, shuffle="shuffle", typesize=4),
            f"blosc(zstd level {level}, byte shuffle)")


def write_zarr(cube, path, chunks, codec, level, threads):
    import zarr

    zarr.config.set({"threading.max_workers": threads})
    compressor, label = zarr_codec(codec, level)
    ds = dataset(cube, 0, cube.shape[0])
    ds.to_zarr(path, mode="w-", zarr_format=3, consolidated=False,
               encoding={"t2m": {"chunks": chunks, "compressors": (compressor,)},
                         "time": time_encoding()})
    return {"path": path, "chunks": list(chunks), "compression": label}


def main():
    ap = argparse.ArgumentParser(description="write the ERA5 cube as NetCDF4 / Zarr v3")
    ap.add_argument("--npy", required=True, help="float32 cube (time, 153, 281)")
    ap.add_argument("--out", required=True,
                    help="output directory (created; existing stores replaced with --force)")
    ap.add_argument("--scale", choices=sorted(HOURS), help="check the cube has this scale's length")
    ap.add_argument("--formats", default="netcdf,zarr",
                    help="comma list of netcdf, zarr, zarr-pencils (default netcdf,zarr)")
    ap.add_argument("--nc-compression", choices=["zlib", "zstd", "none"], default="zlib")
    ap.add_argument("--nc-level", type=int, default=4, help="netCDF4's default complevel is 4")
    ap.add_argument("--zarr-codec", choices=["zstd", "blosc-zstd"], default="zstd")
    ap.add_argument("--zarr-level", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--force", action="store_true", help="replace what is already in --out")
    a = ap.parse_args()

    formats = [f for f in a.formats.split(",") if f]
    bad = set(formats) - {"netcdf", "zarr", "zarr-pencils"}
    if bad:
        ap.error(f"unknown formats {sorted(bad)}")
    cube = np.load(a.npy, mmap_mode="r")
    if cube.dtype != np.float32 or cube.ndim != 3 or cube.shape[1:] != (N_LAT, N_LON):
        sys.exit(f"{a.npy}: expected float32 (time, {N_LAT}, {N_LON}),"
                 f" got {cube.dtype} {cube.shape}")
    if a.scale and cube.shape[0] != HOURS[a.scale]:
        sys.exit(f"{a.npy}: scale {a.scale} has {HOURS[a.scale]} hours, the cube {cube.shape[0]}")
    n = cube.shape[0]

    os.makedirs(a.out, exist_ok=True)
    targets = {"netcdf": os.path.join(a.out, "netcdf"),
               "zarr": os.path.join(a.out, "zarr", "maps.zarr"),
               "zarr-pencils": os.path.join(a.out, "zarr", "pencils.zarr")}
    for f in formats:
        if os.path.exists(targets[f]):
            if not a.force:
                sys.exit(f"{targets[f]} exists (use --force to replace it)")
            shutil.rmtree(targets[f])
    os.makedirs(os.path.join(a.out, "zarr"), exist_ok=True)

    written = {}
    for f in formats:
        t0 = time.perf_counter()
        if f == "netcdf":
            info = write_netcdf(cube, a.out, a.nc_compression, a.nc_level)
        elif f == "zarr":
            info = write_zarr(cube, targets[f], (1, N_LAT, N_LON), a.zarr_codec,
                              a.zarr_level, a.threads)
        else:
            info = write_zarr(cube, targets[f], (n, 8, 8), a.zarr_codec, a.zarr_level,
                              a.threads)
        peerlib.fadvise_evict(peerlib.files_under(targets[f]))  # fsync, so timings include it
        info["seconds"] = time.perf_counter() - t0
        info["bytes"] = peerlib.dir_bytes(targets[f])
        written[f] = info
        peerlib.eprint(f"{f}: {info['bytes'] / 1e6:.1f} MB in {info['seconds']:.2f} s")

    import json

    manifest_path = os.path.join(a.out, "manifest.json")
    manifest = {}
    if os.path.exists(manifest_path):
        with open(manifest_path) as fh:
            manifest = json.load(fh)
    manifest.setdefault("written", {}).update(written)
    manifest.update(npy=os.path.abspath(a.npy), shape=list(cube.shape),
                    raw_bytes=int(cube.nbytes), scale=a.scale,
                    versions=peerlib.versions(["numpy", "xarray", "zarr", "numcodecs", "netCDF4"]))
    with open(manifest_path, "w") as fh:
        json.dump(manifest, fh, indent=1)
    peerlib.dump({"out": os.path.abspath(a.out), "shape": list(cube.shape),
                  "raw_bytes": int(cube.nbytes), "written": written})


if __name__ == "__main__":
    main()
