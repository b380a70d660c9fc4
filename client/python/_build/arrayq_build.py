"""PEP 517 build backend of the arrayq Python client: setuptools, after generating
the protobuf stubs.

Before every hook it runs ``grpc_tools.protoc`` over ``arrayq/v1/arrayq.proto``
(``../../proto`` in the repository, ``proto/`` inside an sdist) into the package,
as ``arrayq/v1/arrayq_pb2.py`` and ``arrayq_pb2.pyi`` (the proto package
``arrayq.v1`` is the Python package ``arrayq.v1``), and writes
``_build/requirements.txt``, the runtime dependencies, with a ``protobuf`` lower
bound no older than the runtime the generated code asks for. None of these files is
kept in version control.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from setuptools import build_meta as _setuptools

HERE = Path(__file__).resolve().parent.parent  # client/python
PROTO_REL = Path("arrayq") / "v1" / "arrayq.proto"
OUT = HERE / "arrayq" / "v1"
REQUIREMENTS = HERE / "_build" / "requirements.txt"

# Runtime dependencies; protobuf's bound may be raised to match the generated code.
BASE_REQUIREMENTS = [
    "grpcio>=1.59",
    "numpy>=1.23",
    "xarray>=2023.1",
    "pandas>=1.5",
    "zstandard>=0.19",
]
MIN_PROTOBUF = (4, 21, 0)


def _proto_root() -> Path:
    """The directory holding ``arrayq/v1/arrayq.proto``: the repository's
    ``proto/`` when building from a checkout, the sdist's own copy otherwise."""
    candidates = [HERE.parent.parent / "proto", HERE / "proto"]
    env = os.environ.get("ARRAYQ_PROTO_DIR")
    if env:
        candidates.insert(0, Path(env))
    for root in candidates:
        if (root / PROTO_REL).is_file():
            return root
    raise RuntimeError(
        "cannot find arrayq/v1/arrayq.proto (looked in "
        + ", ".join(str(c) for c in candidates)
        + "); build from the repository checkout or an sdist, or set ARRAYQ_PROTO_DIR"
    )


def _generate() -> None:
    from grpc_tools import protoc  # a build requirement

    try:
        from importlib.resources import files
    except ImportError:  # pragma: no cover - Python < 3.9
        files = None
    root = _proto_root()
    include = str(files("grpc_tools") / "_proto") if files else None
    OUT.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"-I{root}",
        f"--python_out={HERE}",
        f"--pyi_out={HERE}",
        str(root / PROTO_REL),
    ]
    if include:
        args.insert(2, f"-I{include}")
    # protoc writes arrayq/v1/arrayq_pb2.py under --python_out, i.e. into this package.
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"grpc_tools.protoc failed with status {rc}: {args}")
    init = OUT / "__init__.py"
    init.write_text(
        '"""Protobuf messages of the arrayq.v1 API, generated at build time from '
        'proto/arrayq/v1/arrayq.proto."""\n'
    )
    (OUT / "py.typed").write_text("")
    generated = (OUT / "arrayq_pb2.py").read_text()
    REQUIREMENTS.write_text("\n".join(_requirements(generated)) + "\n")


def _requirements(generated: str) -> list[str]:
    """Runtime requirements; protobuf at least the version the stubs were made for."""
    found = re.search(
        r"ValidateProtobufRuntimeVersion\(\s*_runtime_version\.Domain\.PUBLIC,\s*"
        r"(\d+),\s*(\d+),\s*(\d+)",
        generated,
    )
    version = MIN_PROTOBUF
    if found:
        version = max(version, tuple(int(g) for g in found.groups()))
    return BASE_REQUIREMENTS + ["protobuf>=%d.%d.%d" % version]


def _copy_proto_for_sdist() -> None:
    """Puts the .proto inside the tree so that an sdist can be built on its own."""
    root = _proto_root()
    target = HERE / "proto" / PROTO_REL
    if root.resolve() != (HERE / "proto").resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / PROTO_REL, target)


# ---------------------------------------------------------------- PEP 517 / 660 hooks


def get_requires_for_build_wheel(config_settings=None):
    _generate()
    return _setuptools.get_requires_for_build_wheel(config_settings)


def get_requires_for_build_sdist(config_settings=None):
    _generate()
    return _setuptools.get_requires_for_build_sdist(config_settings)


def get_requires_for_build_editable(config_settings=None):
    _generate()
    return _setuptools.get_requires_for_build_editable(config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _generate()
    return _setuptools.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):
    _generate()
    return _setuptools.prepare_metadata_for_build_editable(metadata_directory, config_settings)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _generate()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    _generate()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    _generate()
    _copy_proto_for_sdist()
    return _setuptools.build_sdist(sdist_directory, config_settings)
