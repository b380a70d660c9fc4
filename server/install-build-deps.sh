#!/usr/bin/env bash
# Installs the system libraries arrayq builds against when they are missing (Debian):
# PROJ for reprojection (libproj-dev, found through pkg-config; the bindings are
# generated with bindgen, which needs libclang) and libnetcdf for `arrayq load
# netcdf` (libnetcdf-dev, which brings HDF5). Safe to run again: it installs
# nothing when everything is there.
set -euo pipefail

need=()
pkg-config --version >/dev/null 2>&1 || need+=(pkg-config)
pkg-config --exists proj 2>/dev/null || need+=(libproj-dev)
pkg-config --exists netcdf 2>/dev/null || need+=(libnetcdf-dev)
if command -v dpkg >/dev/null; then
  dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing build dependencies: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  # Fresh package lists: stale ones can name -dev versions the mirror no longer has.
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}"
fi
