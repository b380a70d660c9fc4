"""Server addresses: ``host:port``, ``http://host:port``, ``https://host:port``,
``arrayq://host:port[/array]`` (``arrayqs://`` for TLS)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional
from urllib.parse import unquote, urlsplit

DEFAULT_PORT = 50051

_SCHEMES = {"http": False, "grpc": False, "arrayq": False, "https": True, "grpcs": True, "arrayqs": True}


@dataclass(frozen=True)
class Address:
    """A parsed server address."""

    #: ``host:port`` as gRPC wants it (IPv6 hosts in brackets).
    target: str
    #: Whether to connect with TLS.
    tls: bool
    #: The path of a URL without its leading ``/`` (``arrayq://host:port/era5`` ->
    #: ``"era5"``), or ``None``.
    path: Optional[str] = None


def parse_address(addr: str) -> Address:
    """Parses ``addr``; a missing port is 50051 (443 for ``https://``)."""
    if not isinstance(addr, str) or not addr.strip():
        raise ValueError(f"not a server address: {addr!r}")
    text = addr.strip()
    if "://" in text:
        url = urlsplit(text)
        scheme = url.scheme.lower()
        if scheme not in _SCHEMES:
            raise ValueError(
                f"unsupported scheme {url.scheme!r} in {addr!r} (use host:port, http://, https:// or arrayq://)"
            )
        tls = _SCHEMES[scheme]
        host = url.hostname
        if not host:
            raise ValueError(f"no host in {addr!r}")
        try:
            port = url.port
        except ValueError as e:
            raise ValueError(f"bad port in {addr!r}: {e}") from None
        if port is None:
            port = 443 if scheme == "https" else DEFAULT_PORT
        path = unquote(url.path.strip("/")) or None
        return Address(_target(host, port), tls, path)
    # host:port, [v6]:port, or a bare host
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise ValueError(f"unclosed '[' in {addr!r}")
        host, rest = text[1:end], text[end + 1 :]
        port = int(rest[1:]) if rest.startswith(":") and rest[1:] else DEFAULT_PORT
        return Address(_target(host, port), False)
    if text.count(":") == 1:
        host, port_text = text.split(":")
        if not port_text.isdigit():
            raise ValueError(f"bad port in {addr!r}")
        return Address(_target(host or "127.0.0.1", int(port_text)), False)
    if ":" in text:  # a bare IPv6 address
        return Address(_target(text, DEFAULT_PORT), False)
    return Address(_target(text, DEFAULT_PORT), False)


def _target(host: str, port: int) -> str:
    if ":" in host:
        return f"[{host}]:{port}"
    return f"{host}:{port}"
