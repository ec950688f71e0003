"""Metadata store benchmark: Headrace's store against ML-Metadata's own, same work, same run.

Both sides are embedded stores over a fresh SQLite file, driven in-process with the same
protobuf requests: ML-Metadata's C++ store through its Python binding (in ``.venv-mlmd``),
Headrace's ``MetadataStore`` (in ``.venv``). Figures:

1. ``PutExecution`` with 2 input and 2 output artifacts and a context: calls per second
   (floor: >= 1x ML-Metadata's).
2. Bulk ``PutArtifacts`` of 10,000 artifacts in one call: artifacts per second (>= 1x).
3. ``GetLineageSubgraph`` of an artifact at the end of a 6-hop chain, 5 hops, in a store of
   100,000 artifacts: p50/p95 (floor: p95 <= 20 ms).

    .venv/bin/python bench/bench_metadata.py                 # 3 alternating rounds per side
    .venv/bin/python bench/bench_metadata.py --rounds 1 --json out.json --artifacts 100000

Each figure is the median over rounds (the order of the two sides alternates, as load on a
shared machine drifts); CPU time per operation is printed beside the wall-clock figures.

The script is also the worker of each side (``--worker mlmd|headrace``), so both run the
identical code path around their store. It measures and prints; it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
MLMD_PYTHON = REPO / ".venv-mlmd" / "bin" / "python"


# ---------------------------------------------------------------------------- the two stores
class MlmdSide:
    """ML-Metadata's embedded store (C++ over SQLite) through its Python binding."""

    def __init__(self, path: Path) -> None:
        from ml_metadata.metadata_store import metadata_store
        from ml_metadata.proto import metadata_store_pb2

        self.pb = metadata_store_pb2
        config = metadata_store_pb2.ConnectionConfig()
        config.sqlite.filename_uri = str(path)
        config.sqlite.connection_mode = (
            metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
        )
        self.store = metadata_store.MetadataStore(config)

    def put_types(self) -> tuple[int, int, int]:
        pb = self.pb
        return (
            self.store.put_artifact_type(pb.ArtifactType(name="Data", properties={"n": pb.INT})),
            self.store.put_execution_type(pb.ExecutionType(name="Step")),
            self.store.put_context_type(pb.ContextType(name="Run")),
        )

    def put_execution(
        self, execution: Any, pairs: list[tuple[Any, Any]], context: Any
    ) -> list[int]:
        _, artifact_ids, _ = self.store.put_execution(
            execution, pairs, [context], reuse_context_if_already_exist=True
        )
        return list(artifact_ids)

    def put_artifacts(self, artifacts: list[Any]) -> list[int]:
        return list(self.store.put_artifacts(artifacts))

    def subgraph(self, options: Any) -> Any:
        return self.store.get_lineage_subgraph(options)


class HeadraceSide:
    """Headrace's MetadataStore over the same kind of SQLite file, migrated by Alembic."""

    def __init__(self, path: Path) -> None:
        sys.path.insert(0, str(REPO))
        import migrations
        from api_server.storage import Database, build_engine
        from metadata_store import MetadataStore
        from metadata_store.proto import metadata_store_pb2, metadata_store_service_pb2

        url = f"sqlite:///{path}"
        migrations.upgrade(url)
        self.pb = metadata_store_pb2
        self.svc = metadata_store_service_pb2
        self.db = Database(build_engine(url))
        self.store = MetadataStore(self.db)

    def put_types(self) -> tuple[int, int, int]:
        from metadata_store.rows import ARTIFACT_TYPE, CONTEXT_TYPE, EXECUTION_TYPE

        pb = self.pb
        return (
            self.store.put_type(
                ARTIFACT_TYPE, pb.ArtifactType(name="Data", properties={"n": pb.INT})
            ),
            self.store.put_type(EXECUTION_TYPE, pb.ExecutionType(name="Step")),
            self.store.put_type(CONTEXT_TYPE, pb.ContextType(name="Run")),
        )

    def put_execution(
        self, execution: Any, pairs: list[tuple[Any, Any]], context: Any
    ) -> list[int]:
        request = self.svc.PutExecutionRequest(execution=execution, contexts=[context])
        for artifact, event in pairs:
            request.artifact_event_pairs.add(artifact=artifact, event=event)
        request.options.reuse_context_if_already_exist = True
        _, artifact_ids, _ = self.store.put_execution(request)
        return artifact_ids

    def put_artifacts(self, artifacts: list[Any]) -> list[int]:
        from metadata_store.store import ARTIFACTS

        return self.store.put_nodes(ARTIFACTS, artifacts)

    def subgraph(self, options: Any) -> Any:
        return self.store.get_lineage_subgraph(options)


# ---------------------------------------------------------------------------- the work
def artifact(side: Any, type_id: int, uri: str, n: int) -> Any:
    made = side.pb.Artifact(type_id=type_id, uri=uri, state=side.pb.Artifact.LIVE)
    made.properties["n"].int_value = n
    made.custom_properties["owner"].string_value = "bench"
    return made


def event(side: Any, kind: str, key: str) -> Any:
    made = side.pb.Event(type=getattr(side.pb.Event, kind))
    made.path.steps.add().key = key
    return made


def put_execution_phase(side: Any, types: tuple[int, int, int], calls: int) -> dict[str, Any]:
    artifact_type, execution_type, context_type = types
    context = side.pb.Context(type_id=context_type, name="bench-run")
    latencies = []
    started = time.perf_counter()
    cpu = time.process_time()
    for i in range(calls):
        pairs = [
            (artifact(side, artifact_type, f"/in/{i}/a", i), event(side, "INPUT", "a")),
            (artifact(side, artifact_type, f"/in/{i}/b", i), event(side, "INPUT", "b")),
            (artifact(side, artifact_type, f"/out/{i}/x", i), event(side, "OUTPUT", "x")),
            (artifact(side, artifact_type, f"/out/{i}/y", i), event(side, "OUTPUT", "y")),
        ]
        execution = side.pb.Execution(
            type_id=execution_type, last_known_state=side.pb.Execution.COMPLETE
        )
        begin = time.perf_counter()
        side.put_execution(execution, pairs, context)
        latencies.append(time.perf_counter() - begin)
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu
    return {
        "calls": calls,
        "cpu_ms_per_call": 1000 * cpu / calls,
        "per_second": calls / sum(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 95),
        "wall_s": wall,
    }


def bulk_phase(side: Any, types: tuple[int, int, int], size: int, repeat: int) -> dict[str, Any]:
    timings = []
    cpu_times = []
    for r in range(repeat):
        batch = [artifact(side, types[0], f"/bulk/{r}/{i}", i) for i in range(size)]
        begin, cpu = time.perf_counter(), time.process_time()
        ids = side.put_artifacts(batch)
        timings.append(time.perf_counter() - begin)
        cpu_times.append(time.process_time() - cpu)
        assert len(ids) == size
    best = min(timings)
    return {
        "size": size,
        "seconds": timings,
        "cpu_seconds": cpu_times,
        "per_second_best": size / best,
        "per_second_median": size / statistics.median(timings),
    }


def lineage_phase(
    side: Any, types: tuple[int, int, int], total: int, chains: int, queries: int, seed: int
) -> dict[str, Any]:
    """Fill the store to ``total`` artifacts, with ``chains`` chains a0-e0-a1-e1-a2-e2-a3."""
    artifact_type, execution_type, context_type = types
    ends = []
    for c in range(chains):
        context = side.pb.Context(type_id=context_type, name=f"chain-{c}")
        previous = side.put_artifacts([artifact(side, artifact_type, f"/chain/{c}/0", 0)])[0]
        for step in range(3):
            execution = side.pb.Execution(type_id=execution_type)
            source = side.pb.Artifact()
            source.CopyFrom(artifact(side, artifact_type, f"/chain/{c}/{step}", step))
            source.id = previous
            output = artifact(side, artifact_type, f"/chain/{c}/{step + 1}", step + 1)
            previous = side.put_execution(
                execution,
                [(source, event(side, "INPUT", "in")), (output, event(side, "OUTPUT", "out"))],
                context,
            )[1]
        ends.append(previous)
    current = stored_artifacts(side)
    while current < total:
        size = min(10_000, total - current)
        side.put_artifacts(
            [artifact(side, artifact_type, f"/fill/{current + i}", i) for i in range(size)]
        )
        current += size
    rng = random.Random(seed)
    latencies = []
    nodes = []
    cpu = time.process_time()
    for _ in range(queries):
        start = rng.choice(ends)
        options = side.pb.LineageSubgraphQueryOptions(max_num_hops=5)
        options.starting_artifacts.filter_query = f"id = {start}"
        begin = time.perf_counter()
        graph = side.subgraph(options)
        latencies.append(time.perf_counter() - begin)
        nodes.append(len(graph.artifacts) + len(graph.executions))
    cpu = time.process_time() - cpu
    return {
        "cpu_ms_per_query": 1000 * cpu / queries,
        "artifacts_in_store": current,
        "queries": queries,
        "nodes_per_answer": sorted(set(nodes)),
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 95),
    }


def stored_artifacts(side: Any) -> int:
    if isinstance(side, MlmdSide):
        return len(side.store.get_artifacts())
    from sqlalchemy import func, select

    from metadata_store.store import ARTIFACTS

    with side.db.read() as session:
        return int(session.execute(select(func.count()).select_from(ARTIFACTS.table)).scalar_one())


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def run_worker(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-mlmd-{args.worker}-") as tmp:
        path = Path(tmp) / "metadata.db"
        side: Any = MlmdSide(path) if args.worker == "mlmd" else HeadraceSide(path)
        types = side.put_types()
        result = {
            "put_execution": put_execution_phase(side, types, args.put_execution_calls),
            "bulk_put_artifacts": bulk_phase(side, types, args.bulk_size, args.bulk_repeat),
        }
        result["lineage_subgraph"] = lineage_phase(
            side, types, args.artifacts, args.chains, args.queries, args.seed
        )
        result["db_bytes"] = sum(p.stat().st_size for p in Path(tmp).iterdir())
        return result


# ---------------------------------------------------------------------------- orchestration
def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "load_before": os.getloadavg(),
        "python": platform.python_version(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--worker", choices=["mlmd", "headrace"])
    parser.add_argument("--put-execution-calls", type=int, default=1000)
    parser.add_argument("--bulk-size", type=int, default=10_000)
    parser.add_argument("--bulk-repeat", type=int, default=3)
    parser.add_argument("--artifacts", type=int, default=100_000)
    parser.add_argument("--chains", type=int, default=200)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs of each side")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.worker:
        json.dump(run_worker(args), sys.stdout)
        return 0

    passthrough = [
        f"--put-execution-calls={args.put_execution_calls}",
        f"--bulk-size={args.bulk_size}",
        f"--bulk-repeat={args.bulk_repeat}",
        f"--artifacts={args.artifacts}",
        f"--chains={args.chains}",
        f"--queries={args.queries}",
        f"--seed={args.seed}",
    ]
    if not MLMD_PYTHON.exists():
        print(f"{MLMD_PYTHON} is missing: run `make mlmd-venv`", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"machine": machine(), "mlmd": [], "headrace": []}
    sides = [("mlmd", str(MLMD_PYTHON)), ("headrace", sys.executable)]
    for round_number in range(args.rounds):
        # Alternate who goes first: load on a shared machine drifts within a round.
        for name, python in sides if round_number % 2 == 0 else sides[::-1]:
            print(f"round {round_number + 1}: {name} ...", file=sys.stderr, flush=True)
            done = subprocess.run(
                [python, __file__, "--worker", name, *passthrough],
                capture_output=True,
                text=True,
                check=False,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            if done.returncode != 0:
                print(done.stderr[-4000:], file=sys.stderr)
                return 1
            results[name].append(json.loads(done.stdout))
    results["machine"]["load_after"] = os.getloadavg()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


def figures(result: dict[str, Any]) -> dict[str, float]:
    """The compared numbers of one worker run."""
    bulk = result["bulk_put_artifacts"]
    lineage = result["lineage_subgraph"]
    return {
        "put_per_s": result["put_execution"]["per_second"],
        "put_cpu_ms": result["put_execution"]["cpu_ms_per_call"],
        "bulk_per_s": bulk["per_second_best"],
        "bulk_cpu_s": min(bulk["cpu_seconds"]),
        "subgraph_p50_ms": lineage["p50_ms"],
        "subgraph_p95_ms": lineage["p95_ms"],
        "subgraph_cpu_ms": lineage["cpu_ms_per_query"],
    }


def report(results: dict[str, Any]) -> None:
    """Per round and the median over rounds; floors are judged on the medians."""
    per_round = {name: [figures(r) for r in results[name]] for name in ("mlmd", "headrace")}
    median = {
        name: {key: statistics.median(f[key] for f in rounds) for key in rounds[0]}
        for name, rounds in per_round.items()
    }
    mlmd, ours = median["mlmd"], median["headrace"]
    put_ratio = ours["put_per_s"] / mlmd["put_per_s"]
    bulk_ratio = ours["bulk_per_s"] / mlmd["bulk_per_s"]
    p95 = ours["subgraph_p95_ms"]
    rows = [
        (
            "PutExecution 2 in + 2 out + context, calls/s",
            ">= 1x MLMD",
            f"{mlmd['put_per_s']:.0f}",
            f"{ours['put_per_s']:.0f}",
            f"x{put_ratio:.2f}",
            put_ratio >= 1,
        ),
        (
            "PutArtifacts 10,000 in one call, artifacts/s",
            ">= 1x MLMD",
            f"{mlmd['bulk_per_s']:.0f}",
            f"{ours['bulk_per_s']:.0f}",
            f"x{bulk_ratio:.2f}",
            bulk_ratio >= 1,
        ),
        (
            "lineage subgraph, 5 hops, p50 / p95 ms",
            "p95 <= 20 ms",
            f"{mlmd['subgraph_p50_ms']:.1f} / {mlmd['subgraph_p95_ms']:.1f}",
            f"{ours['subgraph_p50_ms']:.1f} / {p95:.1f}",
            "",
            p95 <= 20,
        ),
    ]
    print(f"machine: {results['machine']}")
    print(f"median of {len(per_round['mlmd'])} rounds")
    print(f"{'figure':<55} {'floor':<14} {'MLMD':>14} {'Headrace':>14} {'ratio':>7}")
    for figure, floor, theirs, mine, ratio, ok in rows:
        verdict = "PASS" if ok else "BELOW"
        print(f"{figure:<55} {floor:<14} {theirs:>14} {mine:>14} {ratio:>7}  {verdict}")
    print(
        "CPU per operation (MLMD / Headrace): PutExecution "
        f"{mlmd['put_cpu_ms']:.2f} / {ours['put_cpu_ms']:.2f} ms; bulk put "
        f"{mlmd['bulk_cpu_s']:.3f} / {ours['bulk_cpu_s']:.3f} s; subgraph "
        f"{mlmd['subgraph_cpu_ms']:.2f} / {ours['subgraph_cpu_ms']:.2f} ms"
    )
    for number, (theirs_r, ours_r) in enumerate(
        zip(per_round["mlmd"], per_round["headrace"], strict=True), start=1
    ):
        print(
            f"round {number}: PutExecution {theirs_r['put_per_s']:.0f} / {ours_r['put_per_s']:.0f}"
            f" calls/s, bulk {theirs_r['bulk_per_s']:.0f} / {ours_r['bulk_per_s']:.0f}"
            f" artifacts/s, subgraph p95 {theirs_r['subgraph_p95_ms']:.1f} /"
            f" {ours_r['subgraph_p95_ms']:.1f} ms"
        )
    stored = results["headrace"][0]["lineage_subgraph"]
    print(
        f"artifacts in store: {stored['artifacts_in_store']}, "
        f"nodes per subgraph answer: {stored['nodes_per_answer']}"
    )


if __name__ == "__main__":
    sys.exit(main())
