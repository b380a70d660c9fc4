#!/usr/bin/env python3
"""Print the peers' versions as one JSON object (used by setup_venv.sh).

Python packages from the running interpreter, netCDF-C/HDF5 from netCDF4, GDAL from
rasterio, and the PostgreSQL server binaries that energy_pg.py would use (null where
missing).
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peerlib  # noqa: E402


def main():
    out = peerlib.versions(peerlib.PEER_PACKAGES)
    try:
        import netCDF4

        out["netcdf-c"] = netCDF4.__netcdf4libversion__
        out["hdf5"] = netCDF4.__hdf5libversion__
    except ImportError:
        out["netcdf-c"] = out["hdf5"] = None
    try:
        import rasterio

        out["gdal"] = rasterio.__gdal_version__
    except ImportError:
        out["gdal"] = None
    try:
        from energy_pg import find_bindir

        bindir = find_bindir(None)
        exe = os.path.join(bindir, "postgres") if bindir else "postgres"
        r = subprocess.run([exe, "--version"], capture_output=True, text=True)
        m = re.search(r"\(PostgreSQL\) (\S+)", r.stdout) if r.returncode == 0 else None
        out["postgres"] = m.group(1) if m else None
        out["postgres_bin"] = bindir or None
    except (SystemExit, Exception):
        out["postgres"] = None
    peerlib.dump(out)


if __name__ == "__main__":
    main()
