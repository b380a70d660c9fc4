"""Query results: numpy columns and coordinates, and their xarray form."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional, Tuple, Union

import numpy as np

from ._wire import Assembler, Stats
from .v1 import arrayq_pb2 as pb

# The `units` of an int64 column holding UTC nanoseconds (docs/grpc.md, "Results").
UNIX_NS_UNITS = "nanoseconds since 1970-01-01 00:00:00"

if TYPE_CHECKING:
    import xarray as xr

XarrayObject = Union["xr.DataArray", "xr.Dataset"]


def result_coordinates(dim: "pb.ResultDimension", n: int, rest: list) -> np.ndarray:
    """numpy coordinates of a result dimension of length ``n`` (``rest``: the part of
    an explicit list that came in CoordinateBlocks). Times are ``datetime64[ns]``."""
    kind = dim.WhichOneof("coordinates")
    if kind == "regular":
        return dim.regular.start + dim.regular.step * np.arange(n, dtype=np.float64)
    if kind == "time":
        ns = dim.time.start_unix_ns + dim.time.step_ns * np.arange(n, dtype=np.int64)
        return ns.astype("datetime64[ns]")
    if kind is None:
        return np.arange(n, dtype=np.int64)
    values = list(getattr(dim, kind).values) + list(rest)
    if len(values) != n:
        from .errors import ProtocolError

        raise ProtocolError(f"dimension {dim.name!r} has {len(values)} coordinates for {n} indices")
    if kind == "values":
        return np.array(values, dtype=np.float64)
    if kind == "text_labels":
        return np.array(values, dtype=object)
    ints = np.array(values, dtype=np.int64)
    return ints.astype("datetime64[ns]") if kind == "times_unix_ns" else ints


@dataclass
class QueryResult:
    """A query result as numpy arrays.

    Attributes:
        sql: the statement.
        dims: result dimension names, in order (empty for a scalar).
        shape: result extent per dimension.
        coords: coordinates per dimension (times as ``datetime64[ns]``, labels as
            int64 or str).
        columns: one array per select item, shaped like the result (0-d for a scalar),
            in select order.
        scalar: the result is one value per column.
        notes: the server's remarks ("empty selection", ...).
        stats: execution statistics (footer).
        stored_blocks: number of data blocks that came as stored chunks and were
            decoded here.
        bytes_received: bytes of all messages of the stream.
    """

    sql: str
    dims: List[str]
    shape: Tuple[int, ...]
    coords: Dict[str, np.ndarray]
    columns: Dict[str, np.ndarray]
    scalar: bool
    notes: List[str]
    stats: Stats
    stored_blocks: int = 0
    bytes_received: int = 0
    attrs: Dict[str, object] = field(default_factory=dict)
    #: The array's descriptions (CF attributes: units, long_name, ...) of the
    #: dimensions and columns the result shows unchanged, by name.
    dim_metadata: Dict[str, Dict[str, str]] = field(default_factory=dict)
    column_metadata: Dict[str, Dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_assembler(cls, sql: str, a: Assembler) -> "QueryResult":
        h = a.header
        assert h is not None and a.stats is not None, "an unfinished stream"
        shape = () if h.scalar else tuple(int(s) for s in h.shape)
        dims = [d.name for d in h.dimensions]
        coords = {
            d.name: result_coordinates(d, int(n), rest)
            for d, n, rest in zip(h.dimensions, h.shape, a.coordinate_rest)
        }
        columns = {}
        column_metadata = {}
        for c, values in zip(h.columns, a.columns):
            name = c.name
            k = 1
            while name in columns:  # unnamed duplicates ("?column?") stay apart
                k += 1
                name = f"{c.name}_{k}"
            meta = dict(c.metadata)
            if meta.get("units") == UNIX_NS_UNITS and values.dtype == np.int64:
                # A time dimension shown as a column (SELECT time, ORDER BY rows).
                values = values.view("datetime64[ns]")
                meta.pop("units")
                meta.pop("calendar", None)
            columns[name] = values.reshape(shape)
            if meta:
                column_metadata[name] = meta
        return cls(
            sql=sql,
            dims=dims,
            shape=shape,
            coords=coords,
            columns=columns,
            scalar=bool(h.scalar),
            notes=list(h.notes),
            stats=a.stats,
            stored_blocks=a.stored_blocks,
            bytes_received=a.bytes_received,
            dim_metadata={d.name: dict(d.metadata) for d in h.dimensions if d.metadata},
            column_metadata=column_metadata,
        )

    def to_xarray(self) -> XarrayObject:
        """A DataArray for a single column, else a Dataset (one variable per column).

        Coordinates are the result's, with the array's descriptions of their
        dimensions as attrs; a variable's attrs hold its attribute's descriptions
        (units, long_name, ...) when it is a plain attribute reference, and the
        statement (``arrayq_query``), the array version and layout read, and the
        server's notes if any.
        """
        import xarray as xr

        attrs: Dict[str, object] = {"arrayq_query": self.sql, "arrayq_version": int(self.stats.version)}
        if self.stats.layout:
            attrs["arrayq_layout"] = self.stats.layout
        if self.notes:
            attrs["arrayq_notes"] = "\n".join(self.notes)
        attrs.update(self.attrs)
        coords = {d: (d, self.coords[d], self.dim_metadata.get(d, {})) for d in self.dims}
        if len(self.columns) == 1:
            ((name, values),) = self.columns.items()
            described = {**self.column_metadata.get(name, {}), **attrs}
            return xr.DataArray(values, dims=self.dims, coords=coords, name=name, attrs=described)
        data_vars = {}
        for name, values in self.columns.items():
            var_name = name if name not in coords else f"{name}_value"
            data_vars[var_name] = (self.dims, values, self.column_metadata.get(name, {}))
        return xr.Dataset(data_vars, coords=coords, attrs=attrs)
