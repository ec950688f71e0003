"""Generate the Python code for our v2beta1 protos (``make protos``).

The ``.proto`` files live under ``protos/`` at the import paths their package names imply
(``kubeflow/pipelines/backend/api/v2beta1/run.proto``). protoc writes absolute imports that
follow those paths, so the generated modules are moved flat into ``generated/`` and their
imports of each other are rewritten to ``api_server.grpc_api.generated``. Everything else
they import (``google.protobuf``, ``google.rpc``) comes from installed packages.

grpcio-tools is a development dependency pinned exactly in ``pyproject.toml``: the code it
writes names the protobuf and grpcio versions it was made with, and the staleness test
regenerates and compares byte for byte.

    python -m api_server.grpc_api.codegen            # rewrite api_server/grpc_api/generated
    python -m api_server.grpc_api.codegen OUT_DIR    # write elsewhere (the staleness test)
"""

from __future__ import annotations

import importlib.resources
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE / "protos"
PROTO_PACKAGE_DIR = Path("kubeflow/pipelines/backend/api/v2beta1")
GENERATED_DIR = HERE / "generated"
GENERATED_PACKAGE = "api_server.grpc_api.generated"
# The suffixes protoc writes: messages, their type stubs, service stubs and servicers.
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")

_OWN_IMPORT = re.compile(r"^from kubeflow\.pipelines\.backend\.api\.v2beta1 import ", re.MULTILINE)


def proto_files() -> list[Path]:
    """Our .proto files, relative to ``PROTO_ROOT``, in a stable order."""
    return sorted(
        p.relative_to(PROTO_ROOT) for p in (PROTO_ROOT / PROTO_PACKAGE_DIR).glob("*.proto")
    )


def _include_dirs() -> list[Path]:
    """Where protoc finds google/protobuf/*.proto (grpcio-tools) and google/rpc/*.proto
    (googleapis-common-protos, which ships its .proto sources next to the modules)."""
    import google.rpc.status_pb2 as status_pb2

    well_known = Path(str(importlib.resources.files("grpc_tools") / "_proto"))
    googleapis = Path(status_pb2.__file__).resolve().parents[2]
    return [PROTO_ROOT, well_known, googleapis]


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules into ``out_dir``; returns the files written."""
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        args = ["grpc_tools.protoc"]
        args += [f"--proto_path={d}" for d in _include_dirs()]
        args += [f"--python_out={scratch}", f"--pyi_out={scratch}", f"--grpc_python_out={scratch}"]
        args += [str(p) for p in proto_files()]
        if protoc.main(args) != 0:
            raise RuntimeError("protoc failed; see its messages above")
        written = []
        for source in sorted((Path(scratch) / PROTO_PACKAGE_DIR).iterdir()):
            if not source.name.endswith(GENERATED_SUFFIXES):
                continue
            text = _OWN_IMPORT.sub(f"from {GENERATED_PACKAGE} import ", source.read_text())
            target = out_dir / source.name
            target.write_text(text)
            written.append(target)
    return written


def generated_files(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(GENERATED_SUFFIXES))


def main(argv: list[str]) -> int:
    out_dir = Path(argv[0]) if argv else GENERATED_DIR
    if out_dir == GENERATED_DIR:
        for stale in generated_files(GENERATED_DIR):
            stale.unlink()
    for path in generate(out_dir):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
