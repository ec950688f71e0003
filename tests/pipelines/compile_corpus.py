"""Compile every corpus source in ``sources/`` into ``compiled/<name>.yaml`` with the kfp SDK.

Each source module exposes the pipeline function as ``PIPELINE``. The compiled YAMLs are
checked in, so the unit tests only need kfp to re-check that the sources still compile.

Usage: ``python tests/pipelines/compile_corpus.py [OUTPUT_DIR]``
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
SOURCES_DIR = HERE / "sources"
COMPILED_DIR = HERE / "compiled"


def source_files() -> list[Path]:
    """Every corpus source, sorted by name so output order is stable."""
    return sorted(p for p in SOURCES_DIR.glob("*.py") if not p.name.startswith("_"))


def _load_module(path: Path) -> ModuleType:
    # Load by path under a private name: the sources are not a package and must not
    # collide with installed modules of the same name (e.g. "importing").
    spec = importlib.util.spec_from_file_location(f"_headrace_corpus_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compile_source(path: Path, output_dir: Path) -> Path:
    """Compile one source file's ``PIPELINE`` into ``output_dir/<stem>.yaml``."""
    from kfp import compiler  # imported lazily: the rest of the test suite must not need kfp

    module = _load_module(path)
    pipeline = getattr(module, "PIPELINE", None)
    if pipeline is None:
        raise AttributeError(f"{path.name} does not define PIPELINE")
    target = output_dir / f"{path.stem}.yaml"
    compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(target))
    return target


def compile_all(output_dir: Path = COMPILED_DIR) -> list[Path]:
    """Compile every source into ``output_dir``; return the written paths."""
    output_dir.mkdir(parents=True, exist_ok=True)
    return [compile_source(path, output_dir) for path in source_files()]


def main(argv: list[str]) -> int:
    output_dir = Path(argv[1]) if len(argv) > 1 else COMPILED_DIR
    for written in compile_all(output_dir):
        print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
