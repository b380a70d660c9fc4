"""xarray backend: ``xr.open_dataset("arrayq://host:port/era5", engine="arrayq")``.

Each attribute of the array becomes a lazily indexed variable (indexing it reads just
that region with one query); ``chunks={}`` makes them Dask arrays chunked like the
stored chunks (``encoding["preferred_chunks"]``), exactly as with the Zarr backend, so
code written for ``xr.open_dataset(store, engine="zarr", chunks={})`` runs unchanged.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Iterable, Optional

import numpy as np
from xarray.backends import BackendArray, BackendEntrypoint
from xarray.core import indexing

from ._address import parse_address


class ArrayQBackendArray(BackendArray):
    """One attribute of an array version, read region by region."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.shape = reader.shape
        self.dtype = reader.dtype

    def __getitem__(self, key: indexing.ExplicitIndexer) -> np.ndarray:
        return indexing.explicit_indexing_adapter(
            key, self.shape, indexing.IndexingSupport.BASIC, self.reader.__getitem__
        )


class ArrayQBackendEntrypoint(BackendEntrypoint):
    """Opens ``arrayq://host:port/ARRAY`` (``arrayqs://`` for TLS) as a Dataset."""

    description = "Open arrays of an arrayq server (gRPC) in xarray"
    open_dataset_parameters = (
        "filename_or_obj",
        "drop_variables",
        "array",
        "version",
        "token",
        "ca_cert",
        "tls_domain",
        "timeout",
        "stored_chunks",
        "layout",
    )

    def open_dataset(  # type: ignore[override]
        self,
        filename_or_obj: Any,
        *,
        drop_variables: Optional[Iterable[str]] = None,
        array: Optional[str] = None,
        version: Optional[int] = None,
        token: Optional[str] = None,
        ca_cert: Any = None,
        tls_domain: Optional[str] = None,
        timeout: Optional[float] = None,
        stored_chunks: bool = True,
        layout: Optional[str] = None,
    ):
        import xarray as xr

        from .lazy import RegionReader, pinned_info, storage_chunks

        url = os.fspath(filename_or_obj)
        address = parse_address(url)
        name = array or address.path
        if not name:
            raise ValueError(f"no array named in {url!r}: use arrayq://host:port/ARRAY or array=...")
        addr = ("arrayqs://" if address.tls else "arrayq://") + address.target
        token = token if token is not None else os.environ.get("ARRAYQ_TOKEN") or None
        conn = {"addr": addr, "token": token, "ca_cert": ca_cert, "tls_domain": tls_domain, "timeout": timeout}
        info, version = pinned_info(conn, name, version)
        drop = set(drop_variables or ())
        dims = info.dim_names
        preferred = dict(zip(dims, storage_chunks(info, layout)))
        variables = {}
        for attr in info.attributes:
            if attr.name in drop:
                continue
            reader = RegionReader(conn, info.name, attr.name, info.dims, attr.dtype, int(version), stored_chunks)
            data = indexing.LazilyIndexedArray(ArrayQBackendArray(reader))
            var_attrs: Dict[str, Any] = dict(attr.metadata)
            if attr.fill is not None:
                var_attrs["_FillValue"] = attr.fill
            variables[attr.name] = xr.Variable(
                dims, data, attrs=var_attrs, encoding={"preferred_chunks": preferred, "dtype": attr.dtype}
            )
        coords = {d.name: (d.name, d.coords(), dict(d.metadata)) for d in info.dims if d.name not in drop}
        ds = xr.Dataset(
            variables,
            coords=coords,
            attrs={**info.metadata, "arrayq_array": info.name, "arrayq_version": int(version), "arrayq_source": addr},
        )
        return ds

    def guess_can_open(self, filename_or_obj: Any) -> bool:
        try:
            text = os.fspath(filename_or_obj)
        except TypeError:
            return False
        return isinstance(text, str) and text.lower().startswith(("arrayq://", "arrayqs://"))
