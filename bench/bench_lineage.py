"""Lineage recording cost per task, in-process: what the embedded engine's fan-out pays.

Each control-loop round the engine hands the jobs that finished in it to
``EngineLineage.record_many``. This script does the same with ``--tasks`` (1,000) finished
trivial container tasks of one run, shaped like the fan-out's (``bench_engine.py``): no
artifacts, one int input parameter, SUCCEEDED, caching off, in batches of ``--batches``
(16 and 64). Per batch size and round: a fresh database (SQLite: a file in a temp folder;
``--database postgresql``: a database of its own, created through ``--pg-admin-url`` and
dropped afterwards), migrated; one untimed warm-up run of ``--warmup`` tasks in the same
store (a server's store is warm); then the timed run. Printed per batch size: microseconds
of CPU (this process: the store runs here, the database server's own CPU is not counted) and
of wall time per task, the median (and the best CPU figure) over ``--repeat`` rounds (each
round's figures in the JSON), and the statements one batch sends (counted in an extra,
untimed run). The VM's CPU time per task varies by up to 2x between rounds under load from
neighbours: compare versions alternately, in the same sitting.

    .venv/bin/python bench/bench_lineage.py
    .venv/bin/python bench/bench_lineage.py --database postgresql --repeat 7
    .venv/bin/python bench/bench_lineage.py --batches 16 --profile  # pyinstrument, if present

Run it under ``flock -x /tmp/headrace-cpu.lock`` on a shared machine. It measures and
prints; it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
sys.path.insert(0, str(REPO))

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "headrace_bench_lineage"


# -- what the engine hands over (the fields EngineLineage reads) ----------------------------
@dataclass(frozen=True)
class Context:
    job_name: str


@dataclass(frozen=True)
class Job:
    run_id: str
    node_id: str
    pipeline_name: str
    task_name: str
    display_name: str
    context: Context
    parameters: dict[str, Any]
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    cache_key: str = ""


@dataclass(frozen=True)
class Outcome:
    state: str
    outputs: dict[str, Any]
    executor_detail: dict[str, Any] | None


def fanout_tasks(run_id: str, count: int) -> list[tuple[Job, Outcome]]:
    """``count`` finished iterations of the fan-out's ``trivial-item`` task."""
    context = Context(job_name=f"bench-fanout {run_id[:8]}")
    finished = []
    for index in range(count):
        path = f"root/for-loop-2/{index}/trivial-item"
        node_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{run_id}:{path}"))
        job = Job(
            run_id=run_id,
            node_id=node_id,
            pipeline_name="bench-fanout",
            task_name="trivial-item",
            display_name="trivial-item",
            context=context,
            parameters={"item": index},
        )
        detail = {
            "kind": "task",
            "path": path,
            "attempts": [{"attempt": 1, "exit_code": 0}],
            "log": f"/tmp/runs/{run_id}/{index}/task.log",
        }
        finished.append((job, Outcome("SUCCEEDED", {"parameters": {}, "artifacts": {}}, detail)))
    return finished


# -- the databases --------------------------------------------------------------------------
@contextmanager
def fresh_database(kind: str, pg_admin_url: str) -> Iterator[str]:
    """The URL of a new, empty database, removed afterwards."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="bench-lineage-") as folder:
            yield f"sqlite:///{Path(folder) / 'metadata.db'}"
        return
    from bench_api import PostgresBackend  # the sibling bench, for its database handling

    database = PostgresBackend(pg_admin_url, PG_DATABASE)
    database.prepare()
    try:
        yield database.url
    finally:
        database.cleanup()


def record(lineage: Any, finished: list[tuple[Job, Outcome]], batch: int) -> None:
    for start in range(0, len(finished), batch):
        results = lineage.record_many(finished[start : start + batch])
        failed = [r for r in results if not isinstance(r, dict)]
        if failed:
            raise RuntimeError(f"a task was not recorded: {failed[0]!r}")


def measure_once(
    kind: str, pg_admin_url: str, tasks: int, batch: int, warmup: int, profile: bool
) -> dict[str, float]:
    from sqlalchemy import event

    import migrations
    from api_server.storage import Database, build_engine
    from metadata_store import EngineLineage, LineageRecorder, MetadataStore

    with fresh_database(kind, pg_admin_url) as url:
        migrations.upgrade(url)
        db = Database(build_engine(url))
        try:
            lineage = EngineLineage(LineageRecorder(MetadataStore(db)))
            record(lineage, fanout_tasks(str(uuid.uuid4()), warmup), batch)
            timed = fanout_tasks(str(uuid.uuid4()), tasks)
            profiler = _profiler() if profile else None
            if profiler is not None:
                profiler.start()
            cpu, wall = time.process_time(), time.perf_counter()
            record(lineage, timed, batch)
            cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            if profiler is not None:
                profiler.stop()
                print(profiler.output_text(unicode=False, color=False, show_all=False))

            # Statements of one steady-state batch (a further run, its first batch untimed).
            counted = fanout_tasks(str(uuid.uuid4()), 2 * batch)
            record(lineage, counted[:batch], batch)
            sent: list[str] = []

            def count(*_args: Any) -> None:
                sent.append("")

            event.listen(db.engine, "before_cursor_execute", count)
            try:
                record(lineage, counted[batch:], batch)
            finally:
                event.remove(db.engine, "before_cursor_execute", count)
        finally:
            db.dispose()
    return {
        "cpu_us_per_task": cpu / tasks * 1e6,
        "wall_us_per_task": wall / tasks * 1e6,
        "statements_per_batch": float(len(sent)),
    }


def _profiler() -> Any:
    try:
        from pyinstrument import Profiler
    except ImportError:
        print("pyinstrument is not installed: no profile", file=sys.stderr)
        return None
    return Profiler(interval=0.0005)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    parser.add_argument("--tasks", type=int, default=1000)
    parser.add_argument("--batches", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--warmup", type=int, default=128)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="pyinstrument of each timed run")
    parser.add_argument("--json", type=Path, help="write every round's figures here")
    args = parser.parse_args(argv)

    import metadata_store

    print(
        f"lineage of {args.tasks} fan-out tasks, {args.database}, code from "
        f"{Path(metadata_store.__file__).resolve().parents[1]}, "
        f"load {'/'.join(f'{v:.2f}' for v in os.getloadavg())}, "
        f"{time.strftime('%Y-%m-%d %H:%M:%S %Z')}",
        flush=True,
    )
    rounds: dict[int, list[dict[str, float]]] = {batch: [] for batch in args.batches}
    for _ in range(args.repeat):
        for batch in args.batches:  # batch sizes alternate, as load on a shared VM drifts
            rounds[batch].append(
                measure_once(
                    args.database, args.pg_admin_url, args.tasks, batch, args.warmup, args.profile
                )
            )

    def median(batch: int, key: str) -> float:
        return statistics.median(r[key] for r in rounds[batch])

    for batch in args.batches:
        each = ", ".join(f"{r['cpu_us_per_task']:.0f}" for r in rounds[batch])
        best = min(r["cpu_us_per_task"] for r in rounds[batch])
        print(
            f"batch {batch:>3}: {median(batch, 'cpu_us_per_task'):4.0f} us CPU/task median, "
            f"{best:4.0f} best (rounds: {each}); {median(batch, 'wall_us_per_task'):4.0f} us "
            f"wall/task; {median(batch, 'statements_per_batch'):.0f} statements/batch"
        )
    if args.json:
        args.json.write_text(json.dumps({str(b): r for b, r in rounds.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
