"""Array descriptions (``Client.describe``, ``Client.arrays``), the schema of an
array created from an xarray object, and the index regions of writes and reads."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, cast

import numpy as np

from .v1 import arrayq_pb2 as pb

# numpy dtype -> wire DType of an attribute.
_DTYPE_OF: Dict[np.dtype, int] = {
    np.dtype("float32"): pb.D_TYPE_F32,
    np.dtype("float64"): pb.D_TYPE_F64,
    np.dtype("int8"): pb.D_TYPE_I8,
    np.dtype("int16"): pb.D_TYPE_I16,
    np.dtype("int32"): pb.D_TYPE_I32,
    np.dtype("int64"): pb.D_TYPE_I64,
    np.dtype("uint8"): pb.D_TYPE_U8,
    np.dtype("uint16"): pb.D_TYPE_U16,
    np.dtype("uint32"): pb.D_TYPE_U32,
    np.dtype("uint64"): pb.D_TYPE_U64,
    np.dtype("bool"): pb.D_TYPE_BOOL,
}
_NUMPY_OF: Dict[int, np.dtype] = {v: k for k, v in _DTYPE_OF.items()}


def wire_dtype(dtype: Any) -> int:
    """The wire DType of a numpy dtype (native or little-endian)."""
    dt = np.dtype(dtype)
    if dt.byteorder == ">":
        dt = dt.newbyteorder("<")
    try:
        return _DTYPE_OF[np.dtype(dt.str.replace("<", "=").replace("|", "="))]
    except KeyError:
        raise TypeError(f"arrayq has no attribute type for numpy dtype {dt}") from None


def numpy_dtype_of(dtype: int) -> np.dtype:
    """The numpy dtype of a wire DType (attributes only)."""
    try:
        return _NUMPY_OF[dtype]
    except KeyError:
        raise TypeError(f"no numpy dtype for arrayq dtype {pb.DType.Name(dtype)}") from None


# ------------------------------------------------------------------ descriptions


@dataclass(frozen=True)
class Dimension:
    """One dimension of an array.

    ``kind`` is ``"time"`` (``start``/``step`` in ns since the epoch), ``"regular"``
    (``start``/``step`` floats), ``"labels"`` (int64 ``labels``), ``"text_labels"``
    (str ``labels``) or ``"index"`` (plain 0, 1, 2, ...).
    """

    name: str
    kind: str
    length: int
    growable: bool = False
    start: float = 0
    step: float = 1
    labels: Optional[Tuple[Any, ...]] = None
    #: Descriptions (CF attributes such as units, long_name).
    metadata: Mapping[str, str] = field(default_factory=dict)

    def coords(self, start: int = 0, stop: Optional[int] = None) -> np.ndarray:
        """Coordinates of indices ``start..stop`` (times as ``datetime64[ns]``)."""
        stop = self.length if stop is None else stop
        if self.kind == "time":
            idx = np.arange(start, stop, dtype=np.int64)
            return (int(self.start) + int(self.step) * idx).astype("datetime64[ns]")
        if self.kind == "regular":
            return self.start + self.step * np.arange(start, stop, dtype=np.float64)
        if self.kind == "index":
            return np.arange(start, stop, dtype=np.int64)
        labels = self.labels or ()
        if self.kind == "text_labels":
            return np.array(labels[start:stop], dtype=object)
        return np.array(labels[start:stop], dtype=np.int64)

    @classmethod
    def from_proto(cls, d: "pb.Dimension") -> "Dimension":
        kind = d.WhichOneof("coordinate")
        meta = dict(d.metadata)
        if kind == "time":
            return cls(d.name, "time", int(d.length), d.growable, int(d.time.start_unix_ns), int(d.time.step_ns), metadata=meta)
        if kind == "regular":
            return cls(d.name, "regular", int(d.length), d.growable, float(d.regular.start), float(d.regular.step), metadata=meta)
        if kind == "labels":
            return cls(d.name, "labels", int(d.length), d.growable, labels=tuple(int(x) for x in d.labels.labels), metadata=meta)
        if kind == "text_labels":
            return cls(d.name, "text_labels", int(d.length), d.growable, labels=tuple(d.text_labels.labels), metadata=meta)
        return cls(d.name, "index", int(d.length), d.growable, metadata=meta)


@dataclass(frozen=True)
class Attribute:
    """One attribute (stored value per cell): name, numpy dtype and fill value
    (``None``: the default, NaN for floats, 0 / False otherwise)."""

    name: str
    dtype: np.dtype
    fill: Any = None
    #: Descriptions (CF attributes such as units, long_name, standard_name).
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_proto(cls, a: "pb.Attribute") -> "Attribute":
        which = a.WhichOneof("fill")
        fill = getattr(a, which) if which else None
        return cls(a.name, numpy_dtype_of(a.dtype), fill, dict(a.metadata))

    @property
    def fill_value(self) -> Any:
        """The value never-written cells read as."""
        if self.fill is not None:
            return self.fill
        return np.nan if self.dtype.kind == "f" else self.dtype.type(0)


@dataclass(frozen=True)
class Layout:
    """A physical layout: chunk shape, codec settings and (from ``describe``) the
    number and stored bytes of its chunks."""

    name: str
    chunk_shape: Tuple[int, ...]
    zstd_level: int = 0
    shuffle: bool = False
    chunks: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class Commit:
    """One entry of an array's history."""

    version: int
    timestamp: np.datetime64
    cells_written: int


@dataclass(frozen=True)
class ArraySummary:
    """A line of ``Client.arrays()``."""

    name: str
    dims: Tuple[str, ...]
    shape: Tuple[int, ...]
    attributes: Tuple[str, ...]
    head_version: int


@dataclass(frozen=True)
class ArrayInfo:
    """``Client.describe(name)``: schema at the head version, history, storage."""

    name: str
    dims: Tuple[Dimension, ...]
    attributes: Tuple[Attribute, ...]
    layouts: Tuple[Layout, ...]
    head_version: int
    commits: Tuple[Commit, ...] = ()
    marks: Mapping[str, str] = field(default_factory=dict)
    #: The array's own descriptions (global attributes such as title).
    metadata: Mapping[str, str] = field(default_factory=dict)

    @property
    def dim_names(self) -> Tuple[str, ...]:
        return tuple(d.name for d in self.dims)

    @property
    def shape(self) -> Tuple[int, ...]:
        return tuple(d.length for d in self.dims)

    @property
    def chunks(self) -> Dict[str, int]:
        """Chunk extent per dimension of the primary (first) layout."""
        if not self.layouts:
            return {d.name: d.length for d in self.dims}
        return dict(zip(self.dim_names, self.layouts[0].chunk_shape))

    def dim(self, name: str) -> Dimension:
        for d in self.dims:
            if d.name == name:
                return d
        raise KeyError(f"array {self.name!r} has no dimension {name!r} (it has {list(self.dim_names)})")

    def attribute(self, name: str) -> Attribute:
        for a in self.attributes:
            if a.name == name:
                return a
        raise KeyError(f"array {self.name!r} has no attribute {name!r} (it has {[a.name for a in self.attributes]})")

    def coords(self) -> Dict[str, np.ndarray]:
        """Coordinates of every dimension (times as ``datetime64[ns]``)."""
        return {d.name: d.coords() for d in self.dims}

    @classmethod
    def from_proto(cls, r: "pb.DescribeArrayResponse") -> "ArrayInfo":
        s = r.schema
        stats = {l.name: l for l in r.layouts}
        layouts = []
        for l in s.layouts:
            st = stats.get(l.name)
            layouts.append(
                Layout(
                    l.name,
                    tuple(int(c) for c in l.chunk_shape),
                    int(l.zstd_level),
                    bool(l.shuffle),
                    int(st.chunks) if st else 0,
                    int(st.bytes) if st else 0,
                )
            )
        return cls(
            name=s.name,
            dims=tuple(Dimension.from_proto(d) for d in s.dimensions),
            attributes=tuple(Attribute.from_proto(a) for a in s.attributes),
            layouts=tuple(layouts),
            head_version=int(r.head_version),
            commits=tuple(
                Commit(int(c.version), np.datetime64(int(c.timestamp_ns), "ns"), int(c.cells_written))
                for c in r.commits
            ),
            marks=dict(r.marks),
            metadata=dict(s.metadata),
        )


# ------------------------------------------------------------------ from xarray


def _evenly_spaced(values: np.ndarray) -> Optional[Tuple[Any, Any]]:
    """(start, step) if ``values`` (>= 2, float or int) are evenly spaced."""
    n = len(values)
    if n < 2:
        return None
    if values.dtype.kind in "iu":
        v = values.astype(np.int64)
        step = int(v[1] - v[0])
        if step != 0 and np.array_equal(np.diff(v), np.full(n - 1, step)):
            return int(v[0]), step
        return None
    f = values.astype(np.float64)
    fstep = float((f[-1] - f[0]) / (n - 1))
    if fstep == 0 or not math.isfinite(fstep):
        return None
    grid = f[0] + fstep * np.arange(n)
    if np.max(np.abs(grid - f)) <= 1e-6 * abs(fstep):
        # A step that is a "round" number as written (0.25, not 0.2500000001).
        first = float(f[1] - f[0])
        if abs(first - fstep) <= 1e-9 * abs(fstep):
            fstep = first
        return float(f[0]), fstep
    return None


def _is_time(values: np.ndarray) -> bool:
    return values.dtype.kind == "M"


def _to_ns(values: np.ndarray) -> np.ndarray:
    return values.astype("datetime64[ns]").astype(np.int64)


def dimension_from_coords(
    name: str,
    values: Optional[np.ndarray],
    length: int,
    growable: Optional[bool] = None,
    step: Any = None,
) -> "pb.Dimension":
    """A wire dimension describing ``values`` (an xarray coordinate, or ``None`` for a
    dimension without one: a plain index).

    datetime64 -> time (evenly spaced), numbers evenly spaced -> regular, other
    unique integers -> labels, strings -> text labels. ``step`` is needed when there is
    a single coordinate (a timedelta for time, a number otherwise). Time and label
    dimensions are growable unless ``growable`` says otherwise.
    """
    if values is None:
        return pb.Dimension(name=name, length=length, growable=bool(growable))
    values = np.asarray(values)
    if _is_time(values):
        ns = _to_ns(values)
        spaced = _evenly_spaced(ns)
        if spaced is None:
            if len(ns) == 1 and step is not None:
                spaced = (int(ns[0]), int(np.timedelta64(step, "ns").astype(np.int64)))
            else:
                raise ValueError(
                    f"time dimension {name!r}: arrayq needs evenly spaced timestamps "
                    + ("(pass steps={%r: np.timedelta64(...)} for a single one)" % name if len(ns) == 1 else "")
                )
        if spaced[1] <= 0:
            raise ValueError(f"time dimension {name!r} must increase (step {spaced[1]} ns)")
        return pb.Dimension(
            name=name,
            length=length,
            growable=True if growable is None else growable,
            time=pb.TimeCoordinate(start_unix_ns=spaced[0], step_ns=spaced[1]),
        )
    if values.dtype.kind in "OUS":
        labels = [str(v) for v in values]
        if len(set(labels)) != len(labels):
            raise ValueError(f"text labels of dimension {name!r} are not unique")
        return pb.Dimension(
            name=name,
            length=length,
            growable=True if growable is None else growable,
            text_labels=pb.TextLabelCoordinate(labels=labels),
        )
    if values.dtype.kind in "iuf":
        spaced = _evenly_spaced(values)
        if spaced is None and len(values) == 1 and step is not None:
            spaced = (float(values[0]), float(step))
        if spaced is not None:
            return pb.Dimension(
                name=name,
                length=length,
                growable=bool(growable),
                regular=pb.RegularCoordinate(start=float(spaced[0]), step=float(spaced[1])),
            )
        if values.dtype.kind in "iu":
            ints = [int(v) for v in values]
            if len(set(ints)) != len(ints):
                raise ValueError(f"integer labels of dimension {name!r} are not unique")
            return pb.Dimension(
                name=name,
                length=length,
                growable=True if growable is None else growable,
                labels=pb.LabelCoordinate(labels=ints),
            )
        raise ValueError(
            f"dimension {name!r}: arrayq stores numeric coordinates as start + i * step; "
            "these are not evenly spaced"
            + (" (pass steps={%r: ...} for a single one)" % name if len(values) == 1 else "")
        )
    raise TypeError(f"dimension {name!r}: unsupported coordinate dtype {values.dtype}")


def text_metadata(attrs: Mapping[str, Any]) -> Dict[str, str]:
    """The descriptions arrayq keeps of an xarray object's attrs: text values only
    (units, long_name, standard_name, ...), hidden ``_...`` keys left out."""
    return {str(k): v for k, v in attrs.items() if isinstance(v, str) and not str(k).startswith("_")}


def attribute_for(name: str, dtype: np.dtype, attrs: Mapping[str, Any], encoding: Mapping[str, Any]) -> "pb.Attribute":
    """A wire attribute for a variable, its fill from ``_FillValue`` if any and its
    text attrs as metadata."""
    a = pb.Attribute(name=name, dtype=cast(Any, wire_dtype(dtype)), metadata=text_metadata(attrs))
    fill = encoding.get("_FillValue", attrs.get("_FillValue"))
    if fill is not None:
        dt = np.dtype(dtype)
        if dt.kind == "f":
            a.fill_double = float(fill)
        elif dt.kind == "b":
            a.fill_bool = bool(fill)
        elif dt.kind == "u":
            a.fill_uint = int(fill)
        else:
            a.fill_int = int(fill)
    return a


# ------------------------------------------------------------------ write regions


@dataclass
class DimPlacement:
    """Where an xarray dimension goes in an existing array: the first index, the
    order to put its values in (None: as they are) and labels to append."""

    start: int
    count: int
    order: Optional[np.ndarray] = None
    append_labels: List[Any] = field(default_factory=list)


def place(dim: Dimension, values: Optional[np.ndarray], count: int) -> DimPlacement:
    """Maps the coordinates of ``count`` values along ``dim`` to array indices.

    The indices must be a run ``start..start+count`` (in any order: the data is
    reordered); new labels of a labels dimension are appended at its end.
    """
    if values is None:
        if dim.kind in ("index",):
            return DimPlacement(0, count)
        if count == dim.length:
            return DimPlacement(0, count)
        raise ValueError(
            f"dimension {dim.name!r} has no coordinates in the data; arrayq places data "
            f"by coordinate (give {dim.name!r} coordinates)"
        )
    values = np.asarray(values)
    if dim.kind == "time":
        if not _is_time(values):
            raise TypeError(f"dimension {dim.name!r} is a time dimension; the data's coordinates are {values.dtype}")
        rel = _to_ns(values) - int(dim.start)
        step = int(dim.step)
        if np.any(rel % step):
            raise ValueError(f"timestamps of {dim.name!r} are off the array's time grid (step {step} ns)")
        idx = rel // step
    elif dim.kind in ("regular", "index"):
        if values.dtype.kind not in "iuf":
            raise TypeError(f"dimension {dim.name!r} has numeric coordinates; the data's are {values.dtype}")
        pos = (values.astype(np.float64) - float(dim.start)) / float(dim.step)
        idx = np.rint(pos).astype(np.int64)
        if np.max(np.abs(pos - idx), initial=0) > 1e-6:
            raise ValueError(f"coordinates of {dim.name!r} are off the array's grid (start {dim.start}, step {dim.step})")
    else:
        text = dim.kind == "text_labels"
        lookup = {lab: i for i, lab in enumerate(dim.labels or ())}
        idx = np.empty(len(values), dtype=np.int64)
        new: List[Any] = []
        for k, v in enumerate(values):
            lab = str(v) if text else int(v)
            i = lookup.get(lab)
            if i is None:
                i = dim.length + len(new)
                lookup[lab] = i
                new.append(lab)
            idx[k] = i
        if new and not dim.growable:
            raise ValueError(f"labels {new[:5]} are not in the non-growable dimension {dim.name!r}")
        placement = _run(dim, idx, count)
        placement.append_labels = new
        return placement
    return _run(dim, idx, count)


def _run(dim: Dimension, idx: np.ndarray, count: int) -> DimPlacement:
    if len(idx) != count:
        raise ValueError(f"dimension {dim.name!r}: {len(idx)} coordinates for {count} values")
    start = int(idx.min()) if len(idx) else 0
    if start < 0:
        raise ValueError(f"coordinates of {dim.name!r} start before the array's first index")
    if np.all(idx == start + np.arange(count)):
        return DimPlacement(start, count)
    order = np.argsort(idx, kind="stable")
    if not np.array_equal(idx[order], start + np.arange(count)):
        raise ValueError(
            f"coordinates of {dim.name!r} do not cover a contiguous run of the array's indices "
            "(arrayq writes dense boxes)"
        )
    return DimPlacement(start, count, order=order)


# ------------------------------------------------------------------ read regions


def quote_ident(name: str) -> str:
    """A SQL identifier, double-quoted."""
    return '"' + name.replace('"', '""') + '"'


def quote_text(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def format_time_ns(ns: int) -> str:
    """RFC 3339 UTC with nanoseconds: ``2023-01-01T00:00:00.000000000Z``."""
    return str(np.datetime64(int(ns), "ns")) + "Z"


def region_condition(dim: Dimension, start: int, stop: int) -> Optional[str]:
    """A WHERE condition selecting exactly indices ``start..stop`` of ``dim`` (never
    dropping the dimension), or ``None`` when that is the whole dimension."""
    if start <= 0 and stop >= dim.length:
        return None
    if stop <= start:
        raise ValueError(f"empty region {start}..{stop} of dimension {dim.name!r}")
    name = quote_ident(dim.name)
    if dim.kind == "time":
        t0 = int(dim.start) + int(dim.step) * start
        t1 = int(dim.start) + int(dim.step) * (stop - 1)
        return f"{name} BETWEEN '{format_time_ns(t0)}' AND '{format_time_ns(t1)}'"
    if dim.kind in ("regular", "index"):
        first = float(dim.start) + float(dim.step) * start
        last = float(dim.start) + float(dim.step) * (stop - 1)
        lo, hi = min(first, last), max(first, last)
        margin = abs(float(dim.step)) / 4  # well inside the neighbouring cells
        return f"{name} BETWEEN {lo - margin!r} AND {hi + margin!r}"
    labels = (dim.labels or ())[start:stop]
    if dim.kind == "text_labels":
        return f"{name} IN ({', '.join(quote_text(x) for x in labels)})"
    return f"{name} IN ({', '.join(str(int(x)) for x in labels)})"


def region_sql(
    array: str,
    attributes: Sequence[str],
    dims: Sequence[Dimension],
    region: Sequence[Tuple[int, int]],
    version: Optional[int] = None,
) -> str:
    """``SELECT attrs FROM array [AS OF VERSION v] WHERE <region>``."""
    conds = [c for c in (region_condition(d, a, b) for d, (a, b) in zip(dims, region)) if c]
    sql = f"SELECT {', '.join(quote_ident(a) for a in attributes)} FROM {quote_ident(array)}"
    if version is not None:
        sql += f" AS OF VERSION {int(version)}"
    if conds:
        sql += " WHERE " + " AND ".join(conds)
    return sql


def normalize_names(names: Optional[Iterable[str]]) -> Optional[List[str]]:
    if names is None:
        return None
    if isinstance(names, str):
        return [names]
    return list(names)
