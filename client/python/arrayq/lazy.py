"""Lazy, Dask-backed arrays: every Dask task reads one region of the array over
gRPC, so xarray / Dask code runs on arrayq data as it does on Zarr, and a Dask
distributed cluster spreads the reads (and the compute) over its workers."""
from __future__ import annotations

import math
import os
import threading
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from . import schema as _schema
from ._address import parse_address
from ._result import XarrayObject
from .schema import ArrayInfo, Dimension

ChunksArg = Union[None, str, int, Mapping[str, Any], Sequence[Any]]

_clients: Dict[Tuple[Any, ...], Any] = {}
_clients_lock = threading.Lock()


def _client(conn: Mapping[str, Any]):
    """One client per process and connection settings (gRPC channels are
    thread-safe, and are not carried over a fork)."""
    from .client import Client

    key = (os.getpid(),) + tuple(sorted((k, repr(v)) for k, v in conn.items()))
    c = _clients.get(key)
    if c is None:
        with _clients_lock:
            c = _clients.get(key)
            if c is None:
                args = dict(conn)
                addr = args.pop("addr")
                token = args.pop("token", None)
                c = Client(addr, token, **args)
                _clients[key] = c
    return c


class RegionReader:
    """Reads index regions of one attribute of one array version. Picklable (it holds
    connection settings, not a connection), so Dask can ship it to workers.

    It has ``shape``, ``dtype``, ``ndim`` and basic ``__getitem__`` (integers and
    slices), which is what ``dask.array.from_array`` needs: each task then reads its
    block with one query.
    """

    def __init__(
        self,
        conn: Mapping[str, Any],
        array: str,
        attribute: str,
        dims: Sequence[Dimension],
        dtype: np.dtype,
        version: int,
        stored_chunks: bool = True,
    ) -> None:
        self.conn = dict(conn)
        self.array = array
        self.attribute = attribute
        self.dims = tuple(dims)
        self.dtype = np.dtype(dtype)
        self.version = int(version)
        self.stored_chunks = stored_chunks
        self.shape = tuple(d.length for d in self.dims)
        self.ndim = len(self.shape)

    def __repr__(self) -> str:
        return f"RegionReader({self.array}.{self.attribute} @ version {self.version}, shape {self.shape})"

    def read(self, region: Sequence[Tuple[int, int]]) -> np.ndarray:
        """The values of ``region`` (``(start, stop)`` per dimension) as a numpy array."""
        shape = tuple(b - a for a, b in region)
        if any(n <= 0 for n in shape):
            return np.empty(tuple(max(n, 0) for n in shape), dtype=self.dtype)
        sql = _schema.region_sql(self.array, [self.attribute], self.dims, region, self.version)
        r = _client(self.conn).query_result(sql, stored_chunks=self.stored_chunks)
        values = next(iter(r.columns.values()))
        if values.shape != shape:
            from .errors import ProtocolError

            raise ProtocolError(f"region {list(region)} of {self.array}.{self.attribute} came back as {values.shape}")
        if values.dtype != self.dtype:
            values = values.astype(self.dtype)
        return values

    def __getitem__(self, key: Any) -> np.ndarray:
        if not isinstance(key, tuple):
            key = (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1 :]
        key = key + (slice(None),) * (self.ndim - len(key))
        region: List[Tuple[int, int]] = []
        local: List[Any] = []
        for k, n in zip(key, self.shape):
            if isinstance(k, (int, np.integer)):
                i = int(k) + n if k < 0 else int(k)
                if not 0 <= i < n:
                    raise IndexError(f"index {k} out of range for length {n}")
                region.append((i, i + 1))
                local.append(0)
            elif isinstance(k, slice):
                start, stop, step = k.indices(n)
                if step < 0:
                    lo, hi = (stop + 1, start + 1) if stop < start else (0, 0)
                    region.append((lo, hi))
                    local.append(slice(None, None, step))
                else:
                    region.append((start, max(start, stop)))
                    local.append(slice(None, None, step) if step != 1 else slice(None))
            else:
                raise TypeError(f"RegionReader takes integers and slices, not {type(k).__name__}")
        values = self.read(region)
        return values[tuple(local)]


def storage_chunks(info: ArrayInfo, layout: Optional[str] = None) -> Tuple[int, ...]:
    """Chunk shape of a layout (default: the primary, first one), clipped to the
    array's shape (at least 1)."""
    if not info.layouts:
        return tuple(max(1, n) for n in info.shape)
    chosen = info.layouts[0]
    if layout is not None:
        for l in info.layouts:
            if l.name == layout:
                chosen = l
                break
        else:
            raise KeyError(f"array {info.name!r} has no layout {layout!r} (it has {[l.name for l in info.layouts]})")
    return tuple(max(1, min(int(c), n)) if n else max(1, int(c)) for c, n in zip(chosen.chunk_shape, info.shape))


def _aligned(extent: Any, stored: int, n: int) -> int:
    """A block extent: -1/None = the whole dimension, else rounded up to whole
    stored chunks."""
    if extent is None or extent == -1 or extent == "full":
        return max(n, 1)
    extent = int(extent)
    if extent <= 0:
        raise ValueError(f"chunk extent must be positive, got {extent}")
    return max(stored, math.ceil(extent / stored) * stored)


def dask_chunks(info: ArrayInfo, chunks: ChunksArg, dtype: np.dtype, layout: Optional[str] = None) -> Tuple[int, ...]:
    """The Dask block shape for ``chunks`` (see :func:`open_array`)."""
    stored = storage_chunks(info, layout)
    shape = info.shape
    names = info.dim_names
    if chunks is None or (isinstance(chunks, Mapping) and not chunks):
        return stored
    if chunks == "auto":
        import dask.array as da

        normalized = da.core.normalize_chunks("auto", shape, dtype=dtype, previous_chunks=stored)
        return tuple(_aligned(c[0] if c else 1, s, n) for c, s, n in zip(normalized, stored, shape))
    if isinstance(chunks, Mapping):
        unknown = set(chunks) - set(names)
        if unknown:
            raise ValueError(f"chunks names unknown dimensions {sorted(unknown)} (the array has {list(names)})")
        return tuple(
            _aligned(chunks[d], s, n) if d in chunks else s for d, s, n in zip(names, stored, shape)
        )
    if isinstance(chunks, (int, np.integer)):
        return tuple(_aligned(int(chunks), s, n) for s, n in zip(stored, shape))
    chunks = tuple(chunks)
    if len(chunks) != len(shape):
        raise ValueError(f"chunks has {len(chunks)} extents for {len(shape)} dimensions")
    return tuple(_aligned(c, s, n) for c, s, n in zip(chunks, stored, shape))


def open_array(
    addr: str,
    name: str,
    chunks: ChunksArg = None,
    *,
    attributes: Optional[Union[str, Sequence[str]]] = None,
    version: Optional[int] = None,
    layout: Optional[str] = None,
    token: Optional[str] = None,
    ca_cert: Any = None,
    tls_domain: Optional[str] = None,
    timeout: Optional[float] = None,
    stored_chunks: bool = True,
) -> XarrayObject:
    """A lazy, Dask-backed view of array ``name``: a ``DataArray`` for an array with
    one attribute (or one named in ``attributes``), else a ``Dataset``.

    Coordinates are read at once (they are small); the values are Dask arrays whose
    every task reads one region with one query. The version is pinned when opening
    (the head, or ``version``), so every task reads the same data even while writes
    go on.

    Args:
        addr: server address (``host:port`` or a URL, see :func:`arrayq.connect`).
        name: the array.
        chunks: Dask block shape. ``None`` or ``{}``: the stored chunks of ``layout``
            (the primary layout by default); a dict ``{dim: extent}`` (others keep the
            stored extent), a tuple, an int for every dimension, or ``"auto"``.
            Extents are rounded up to whole stored chunks so that no chunk is read by
            two tasks; -1 means the whole dimension.
        attributes: the attribute(s) to open (default: all).
        version: array version to read (default: the head at opening).
        layout: the layout whose chunks the blocks follow.
        token, ca_cert, tls_domain, timeout: connection settings (see ``connect``).
        stored_chunks: accept stored (compressed) chunks and decode them in the task.
    """
    try:
        import dask.array as da
        from dask.base import tokenize
    except ImportError as e:
        raise ImportError(f"open_array needs Dask: pip install 'arrayq[dask]' ({e})") from e
    import xarray as xr

    conn = {"addr": addr, "token": token, "ca_cert": ca_cert, "tls_domain": tls_domain, "timeout": timeout}
    info, version = pinned_info(conn, name, version)
    wanted = _schema.normalize_names(attributes)
    attrs = info.attributes if wanted is None else tuple(info.attribute(a) for a in wanted)
    coords = {d.name: (d.name, d.coords(), dict(d.metadata)) for d in info.dims}
    dims = info.dim_names
    variables = {}
    for attr in attrs:
        reader = RegionReader(conn, info.name, attr.name, info.dims, attr.dtype, version, stored_chunks)
        block = dask_chunks(info, chunks, attr.dtype, layout)
        token_ = tokenize(parse_address(addr).target, info.name, attr.name, version, block, stored_chunks)
        data = da.from_array(
            reader,
            chunks=block,
            name=f"arrayq-{info.name}-{attr.name}-{token_}",
            lock=False,
            asarray=False,
            fancy=False,
            meta=np.empty((0,) * len(dims), dtype=attr.dtype),
        )
        var_attrs: Dict[str, Any] = {**attr.metadata, "arrayq_array": info.name, "arrayq_version": int(version)}
        if attr.fill is not None:
            var_attrs["_FillValue"] = attr.fill
        variables[attr.name] = xr.Variable(
            dims, data, attrs=var_attrs, encoding={"preferred_chunks": dict(zip(dims, storage_chunks(info, layout)))}
        )
    ds_attrs = {**info.metadata, "arrayq_array": info.name, "arrayq_version": int(version), "arrayq_source": addr}
    if len(variables) == 1 and (wanted is None or len(wanted) == 1):
        ((var_name, var),) = variables.items()
        out = xr.DataArray(var, coords=coords, name=var_name, attrs=dict(var.attrs))
        out.encoding = dict(var.encoding)
        return out
    return xr.Dataset(variables, coords=coords, attrs=ds_attrs)


def pinned_info(conn: Dict[str, Any], name: str, version: Optional[int]) -> Tuple[ArrayInfo, int]:
    """The array's description as of ``version`` (the head when None) and that
    version: what every task of a lazy view reads."""
    client = _client(conn)
    info = client.describe(name)
    if version is None:
        return info, info.head_version
    if int(version) != info.head_version:
        info = _describe_at(client, info, int(version))
    return info, int(version)


def _describe_at(client: Any, info: ArrayInfo, version: int) -> ArrayInfo:
    """The schema of an older version: dimension lengths as they were then (a
    growable dimension may have grown since)."""
    from dataclasses import replace

    sql = f"SELECT count(*) FROM {_schema.quote_ident(info.name)} AS OF VERSION {version}"
    client.query_result(sql)  # NOT_FOUND for an unknown version
    # Ask the engine for the extent of every dimension at that version.
    dims = []
    for d in info.dims:
        r = client.query_result(
            f"SELECT count(*) FROM {_schema.quote_ident(info.name)} AS OF VERSION {version} "
            f"GROUP BY {_schema.quote_ident(d.name)}"
        )
        n = int(r.shape[0]) if r.shape else 0
        labels = d.labels[:n] if d.labels is not None else None
        dims.append(replace(d, length=n, labels=labels))
    return replace(info, dims=tuple(dims))
