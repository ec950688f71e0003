"""Run a folder of compiled pipeline packages, unchanged, on a ``headrace serve`` this script
starts, and report how each one ended.

Meant for packages compiled by others (for example the kfp SDK's own compiled test data,
from a checkout of its repository): which run here as they are, which fail and why. Only
packages that need nothing but Python are submitted: every executor's image is a
``python:`` image, nothing names a cloud store (``gs://``, ``s3://``, ``minio://``), and no
Kubernetes platform settings are required. Packages with required inputs that have no
default are reported as needing arguments and not run.

    .venv/bin/python bench/run_packages.py path/to/compiled/pipelines [--timeout 600]

Prints one line per package and a summary; exits 0 whatever the outcome (it reports).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import start_server

API = "/apis/v2beta1"
TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED"}
CLOUD = ("gs://", "s3://", "minio://")


def load(path: Path) -> tuple[dict[str, Any], dict[str, Any] | None]:
    documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    spec = documents[0]
    platform = documents[1] if len(documents) > 1 else None
    return spec, platform


def why_not(spec: dict[str, Any], platform: dict[str, Any] | None) -> str | None:
    """Why a package is not one that needs nothing but Python (None if it is)."""
    if "pipelineInfo" not in spec or "root" not in spec:
        return "not a pipeline spec"
    text = json.dumps(spec)
    if any(prefix in text for prefix in CLOUD):
        return "names a cloud store"
    if platform:
        return "needs Kubernetes platform settings"
    executors = (spec.get("deploymentSpec") or {}).get("executors") or {}
    for executor in executors.values():
        container = executor.get("container")
        if container is None:
            continue  # importers and resolvers
        if not str(container.get("image", "")).startswith("python:"):
            return f"image {container.get('image')!r}"
    definitions = (spec["root"].get("inputDefinitions") or {}).get("parameters") or {}
    missing = [
        name
        for name, d in definitions.items()
        if not d.get("isOptional") and "defaultValue" not in d
    ]
    artifacts = (spec["root"].get("inputDefinitions") or {}).get("artifacts") or {}
    missing += [name for name, d in artifacts.items() if not d.get("isOptional")]
    if missing:
        return f"needs arguments: {', '.join(sorted(missing))}"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--timeout", type=float, default=900, help="seconds for all runs")
    args = parser.parse_args(argv)

    packages = sorted(p for p in args.folder.rglob("*.yaml"))
    eligible: dict[str, Path] = {}
    outcome: dict[str, str] = {}
    for path in packages:
        name = str(path.relative_to(args.folder))
        try:
            spec, platform = load(path)
        except yaml.YAMLError as exc:
            outcome[name] = f"skipped: unreadable ({exc.__class__.__name__})"
            continue
        reason = why_not(spec, platform)
        if reason:
            outcome[name] = f"skipped: {reason}"
        else:
            eligible[name] = path

    data_dir = Path(tempfile.mkdtemp(prefix="headrace-packages-")) / "data"
    data_dir.mkdir(parents=True)
    server = start_server(
        f"sqlite:///{data_dir / 'headrace.db'}", data_dir, "WARNING", run_engine="embedded"
    )
    try:
        with httpx.Client(base_url=server.base_url + API, timeout=60) as api:
            runs: dict[str, str] = {}
            for name, path in eligible.items():
                with path.open("rb") as fh:
                    uploaded = api.post(
                        "/pipelines/upload",
                        params={"name": f"pkg {len(runs)} {path.stem}"[:100]},
                        files={"uploadfile": (path.name, fh)},
                    )
                if uploaded.status_code != 200:
                    outcome[name] = f"REFUSED {uploaded.status_code}: {uploaded.json()['message']}"
                    continue
                pipeline_id = uploaded.json()["pipeline_id"]
                run = api.post(
                    "/runs",
                    json={
                        "display_name": path.stem,
                        "pipeline_version_reference": {"pipeline_id": pipeline_id},
                    },
                )
                if run.status_code != 200:
                    outcome[name] = f"REFUSED {run.status_code}: {run.json()['message']}"
                    continue
                runs[name] = run.json()["run_id"]
            deadline = time.monotonic() + args.timeout
            pending = dict(runs)
            while pending and time.monotonic() < deadline:
                for name, run_id in list(pending.items()):
                    body = api.get(f"/runs/{run_id}").json()
                    if body["state"] in TERMINAL:
                        error = (body.get("error") or {}).get("message", "")
                        outcome[name] = body["state"] + (f": {error[:160]}" if error else "")
                        del pending[name]
                time.sleep(1)
            for name in pending:
                outcome[name] = "TIMEOUT"
    finally:
        server.stop()

    for name in sorted(outcome):
        print(f"{name}: {outcome[name]}")
    kinds = Counter(o.split(":")[0].split(" ")[0] for o in outcome.values())
    print("\nsummary:", ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
