"""Generate the Python code of the metadata store's protos (``make protos``).

The generated modules are committed, so a checkout runs without protoc; a test regenerates
them into a temporary folder and fails when the committed copies are stale.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

PROTO_DIR = Path(__file__).resolve().parent
ROOT = PROTO_DIR.parent.parent
PROTOS = ("metadata_store.proto", "metadata_store_service.proto")


def generate(out_dir: Path = ROOT) -> list[Path]:
    """Write ``*_pb2.py``, ``*_pb2.pyi`` and ``*_pb2_grpc.py`` under ``out_dir``."""
    include = str(resources.files("grpc_tools") / "_proto")
    sources = [str((PROTO_DIR / name).relative_to(ROOT)) for name in PROTOS]
    args = [
        "grpc_tools.protoc",
        f"-I{ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *sources,
    ]
    if protoc.main(args) != 0:
        raise RuntimeError(f"protoc failed: {' '.join(args)}")
    generated = out_dir / PROTO_DIR.relative_to(ROOT)
    return sorted(p for p in generated.iterdir() if "_pb2" in p.name)


if __name__ == "__main__":
    for path in generate():
        print(path.relative_to(ROOT), file=sys.stderr)
