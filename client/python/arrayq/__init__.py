"""Python client of the arrayq array database.

>>> import arrayq
>>> db = arrayq.connect("localhost:50051")
>>> t2m = db.query("SELECT t2m FROM era5 WHERE lat = 52 AND lon = 5")   # xarray.DataArray
>>> lazy = arrayq.open_array("localhost:50051", "era5")                  # Dask-backed
>>> lazy.mean("time").compute()
"""
from __future__ import annotations

from ._address import Address, parse_address
from ._result import QueryResult
from ._wire import MAX_BLOCK_BYTES, Stats
from .client import (
    ChangeEvent,
    Client,
    Explain,
    Extent,
    Health,
    Subscription,
    WriteResult,
    connect,
)
from .errors import (
    AlreadyExistsError,
    ArrayQError,
    CancelledError,
    DeadlineExceededError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    ProtocolError,
    ResourceExhaustedError,
    UnauthenticatedError,
    UnavailableError,
)
from .lazy import open_array
from .schema import ArrayInfo, ArraySummary, Attribute, Commit, Dimension, Layout

__version__ = "0.1.0"



__all__ = [
    "Address",
    "AlreadyExistsError",
    "ArrayInfo",
    "ArrayQError",
    "ArraySummary",
    "Attribute",
    "CancelledError",
    "ChangeEvent",
    "Client",
    "Commit",
    "DeadlineExceededError",
    "Dimension",
    "Explain",
    "Extent",
    "FailedPreconditionError",
    "Health",
    "InvalidArgumentError",
    "Layout",
    "MAX_BLOCK_BYTES",
    "NotFoundError",
    "ProtocolError",
    "QueryResult",
    "ResourceExhaustedError",
    "Stats",
    "Subscription",
    "UnauthenticatedError",
    "UnavailableError",
    "WriteResult",
    "connect",
    "open_array",
    "parse_address",
]
