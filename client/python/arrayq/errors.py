"""Exceptions raised by the client: every failed call becomes an :class:`ArrayQError`
(a subclass per gRPC status code) carrying the server's message and, for errors
about a place in a SQL text, its 1-based ``(line, column)`` position."""
from __future__ import annotations

import re
from typing import Optional, Tuple

import grpc

#: Trailing metadata entry holding the ``line:col`` of a SQL error (docs/grpc.md).
POSITION_METADATA_KEY = "arrayq-error-position"

_POSITION = re.compile(r"^(\d+):(\d+)$")
_MESSAGE_POSITION = re.compile(r"^(\d+):(\d+): ")


class ArrayQError(Exception):
    """A call failed on the server (or could not reach it).

    Attributes:
        message: the server's message, as sent (a SQL error starts with ``line:col: ``).
        code: the gRPC status code (``grpc.StatusCode``).
        position: ``(line, column)`` (1-based) of the SQL text the error refers to,
            or ``None``.
    """

    def __init__(
        self,
        message: str,
        code: grpc.StatusCode = grpc.StatusCode.UNKNOWN,
        position: Optional[Tuple[int, int]] = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.position = position

    @property
    def line(self) -> Optional[int]:
        """Line of :attr:`position` (1-based), or ``None``."""
        return self.position[0] if self.position else None

    @property
    def column(self) -> Optional[int]:
        """Column of :attr:`position` (1-based), or ``None``."""
        return self.position[1] if self.position else None

    def __str__(self) -> str:
        name = getattr(self.code, "name", str(self.code))
        return f"{self.message} [{name}]"

    def __reduce__(self):  # picklable (Dask ships exceptions between processes)
        return (_rebuild, (type(self), self.message, getattr(self.code, "name", None), self.position))


def _rebuild(cls, message, code_name, position):
    code = getattr(grpc.StatusCode, code_name, grpc.StatusCode.UNKNOWN) if code_name else grpc.StatusCode.UNKNOWN
    return cls(message, code, position)


class InvalidArgumentError(ArrayQError, ValueError):
    """INVALID_ARGUMENT: SQL syntax or semantic error, bad region, wrong data size..."""


class NotFoundError(ArrayQError, LookupError):
    """NOT_FOUND: the array (or layout, or version) does not exist."""


class AlreadyExistsError(ArrayQError):
    """ALREADY_EXISTS: an array of that name exists."""


class FailedPreconditionError(ArrayQError):
    """FAILED_PRECONDITION: version conflict (``expect_version``) or invalid state."""


class ResourceExhaustedError(ArrayQError):
    """RESOURCE_EXHAUSTED: result over the size limit, or the server is busy."""


class UnauthenticatedError(ArrayQError, PermissionError):
    """UNAUTHENTICATED: missing or wrong token."""


class DeadlineExceededError(ArrayQError, TimeoutError):
    """DEADLINE_EXCEEDED: the call's timeout (or the server's query limit) passed."""


class UnavailableError(ArrayQError, ConnectionError):
    """UNAVAILABLE: the server cannot be reached."""


class CancelledError(ArrayQError):
    """CANCELLED: the call was cancelled."""


class ProtocolError(ArrayQError):
    """The server's answer broke the wire contract (for example a stored chunk whose
    checksum does not match, or a stream that ended without its footer)."""


_BY_CODE = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhaustedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.CANCELLED: CancelledError,
}


def parse_position(text: Optional[str]) -> Optional[Tuple[int, int]]:
    """``"3:13"`` -> ``(3, 13)``; anything else -> ``None``."""
    if not text:
        return None
    m = _POSITION.match(text.strip())
    return (int(m.group(1)), int(m.group(2))) if m else None


def from_rpc_error(err: grpc.RpcError) -> ArrayQError:
    """The :class:`ArrayQError` for a failed gRPC call."""
    code = err.code() if hasattr(err, "code") else grpc.StatusCode.UNKNOWN
    message = (err.details() if hasattr(err, "details") else None) or str(err)
    position = None
    try:
        trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    except Exception:  # pragma: no cover - a call without metadata
        trailing = None
    for key, value in trailing or ():
        if key == POSITION_METADATA_KEY:
            if isinstance(value, bytes):
                value = value.decode("utf-8", "replace")
            position = parse_position(value)
    if position is None:
        m = _MESSAGE_POSITION.match(message)
        if m:
            position = (int(m.group(1)), int(m.group(2)))
    return _BY_CODE.get(code, ArrayQError)(message, code, position)
