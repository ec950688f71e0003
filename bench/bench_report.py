"""Measure the cost of task status writes (``RunService.report_status``) in process, no HTTP.

The embedded engine reports a fan-out's transitions once per control-loop round, one
``RunStatusEvent`` per run with that round's task events. This script feeds a fresh run the
events a ``ParallelFor`` of ``--tasks`` (1,000) trivial container tasks produces, shaped as
``api_server/backends/embedded/interpreter.py`` shapes them:

* round 0 (with the run's RUNNING): the root dag and the loop RUNNING, and the first
  ``batch`` iterations RUNNING with their loop item as input;
* every later round finishes ``batch`` items; for each, the executor task RUNNING (first
  event: inputs, executor detail with log and job) and SUCCEEDED (times, execution id, the
  detail with its attempts and lineage ids), then its iteration SUCCEEDED, then the next
  iteration RUNNING;
* the last round also ends the loop, the root dag and the run (SUCCEEDED).

``--shape together`` (default) puts an executor's RUNNING and SUCCEEDED in the same round
(a trivial task starts and ends between two rounds); ``apart`` reports RUNNING one round
before SUCCEEDED (a task that takes longer than a round). A "task" below is one fan-out
item: two task rows (iteration, executor) and four task events.

For each batch size (``--batches``, default 16 and 64) the run is fed on a new database and
the script prints the process CPU time (``time.process_time``: Python and, on SQLite, the
database engine itself) and the wall time per task, the best of ``--repeat``. On PostgreSQL
the server's own CPU is not included (it is printed apart, from ``/proc``). The run's
API output after the feed is hashed (fixed clock and ids), so two versions of the code can
be checked to produce the same result: the digest must be equal.

    .venv/bin/python bench/bench_report.py
    .venv/bin/python bench/bench_report.py --database postgresql --repeat 3
    .venv/bin/python bench/bench_report.py --profile /tmp/report.html   # pyinstrument
    PYTHONPATH=/tmp/base .venv/bin/python bench/bench_report.py  # another checkout's code

It measures and prints; it never asserts.
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
if not os.environ.get("PYTHONPATH"):
    sys.path.insert(0, str(BENCH_DIR.parent))

from bench_api import PostgresBackend, postgres_cpu_seconds  # noqa: E402 - the sibling bench

from api_server import build_services  # noqa: E402
from api_server.backends import RunStatusEvent, TaskStatusEvent  # noqa: E402
from api_server.backends.embedded.interpreter import node_id  # noqa: E402
from api_server.services import PipelineSource, RunInput  # noqa: E402
from api_server.storage import Database, build_engine  # noqa: E402
from domain.settings import Settings  # noqa: E402

DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
PG_DATABASE = "headrace_bench_report"
RUN_ID = "0b7e1a52-9d3c-4c1e-8f5a-2f6d1c9e4a10"
LOOP_INPUT = "pipelinechannel--loop-item-param-1"
SPEC = {
    "pipelineInfo": {"name": "bench-fanout"},
    "schemaVersion": "2.1.0",
    "sdkVersion": "kfp-2.14.3",
    "components": {
        "comp-trivial-item": {
            "executorLabel": "exec-trivial-item",
            "inputDefinitions": {"parameters": {"item": {"parameterType": "NUMBER_INTEGER"}}},
        }
    },
    "deploymentSpec": {
        "executors": {
            "exec-trivial-item": {
                "container": {
                    "image": "busybox:1.36",
                    "command": ["sh", "-c", '"$@"', "{{$.inputs.parameters['item']}}", "true"],
                }
            }
        }
    },
    "root": {"dag": {"tasks": {}}},
}


class Clock:
    """A clock that ticks 10 microseconds per reading, from a fixed start."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(microseconds=10)
        return self.now


def build_events(run_id: str, tasks: int, batch: int, shape: str) -> list[RunStatusEvent]:
    """The events of a fan-out of ``tasks`` items reported ``batch`` items per round."""
    clock = Clock()
    root, loop = node_id(run_id, "root"), node_id(run_id, "root/for-loop-2")
    log_dir = f"/var/lib/headrace/artifacts/{run_id}/for-loop-2"
    started: dict[int, datetime] = {}

    def iteration(i: int, state: str) -> TaskStatusEvent:
        path = f"root/for-loop-2/{i}"
        if state == "RUNNING":
            started[-i - 1] = clock()
        return TaskStatusEvent(
            task_id=node_id(run_id, path),
            state=state,
            update_time=clock(),
            display_name=f"for-loop-2 #{i}",
            parent_task_id=loop,
            start_time=started[-i - 1],
            end_time=clock() if state == "SUCCEEDED" else None,
            executor_detail={"kind": "iteration", "path": path},
            inputs={"parameters": {LOOP_INPUT: i}} if state == "RUNNING" else None,
        )

    def executor_detail(i: int) -> dict[str, Any]:
        path = f"root/for-loop-2/{i}/trivial-item"
        task_id = node_id(run_id, path)
        return {
            "kind": "executor",
            "path": path,
            "image": "busybox:1.36",
            "log": f"{log_dir}/{i}/trivial-item/task.log",
            "main_job": f"{task_id}-1",
        }

    def executor(i: int, state: str) -> TaskStatusEvent:
        path = f"root/for-loop-2/{i}/trivial-item"
        task_id = node_id(run_id, path)
        detail = executor_detail(i)
        end_time = execution_id = inputs = None
        if state == "RUNNING":
            started[i] = clock()
            inputs = {"parameters": {"item": i}}
        else:
            end_time = clock()
            execution_id = i + 1
            detail.update(
                attempts=[
                    {
                        "attempt": 1,
                        "job": f"{task_id}-1",
                        "start_time": started[i].strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "pid": 20_000 + i,
                        "end_time": end_time.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                        "exit_code": 0,
                    }
                ],
                failed_main_jobs=[],
                execution_id=execution_id,
                artifact_ids={},
                input_artifact_ids={},
            )
        return TaskStatusEvent(
            task_id=task_id,
            state=state,
            update_time=clock(),
            display_name="trivial-item",
            parent_task_id=node_id(run_id, f"root/for-loop-2/{i}"),
            start_time=started[i],
            end_time=end_time,
            execution_id=None if execution_id is None else str(execution_id),
            executor_detail=detail,
            inputs=inputs,
        )

    def scope(
        task_id: str, parent: str | None, path: str, kind: str, state: str
    ) -> TaskStatusEvent:
        detail: dict[str, Any] = {"kind": kind, "path": path}
        if kind == "loop":
            detail["iterations"] = tasks
        return TaskStatusEvent(
            task_id=task_id,
            state=state,
            update_time=clock(),
            display_name="bench-fanout" if kind == "dag" else "for-loop-2",
            parent_task_id=parent,
            start_time=clock(),
            end_time=clock() if state == "SUCCEEDED" else None,
            executor_detail=detail,
        )

    events = []
    first = [
        scope(root, None, "root", "dag", "RUNNING"),
        scope(loop, root, "root/for-loop-2", "loop", "RUNNING"),
    ]
    first += [iteration(i, "RUNNING") for i in range(min(batch, tasks))]
    if shape == "apart":
        first += [executor(i, "RUNNING") for i in range(min(batch, tasks))]
    events.append(RunStatusEvent(run_id, 0, clock(), "RUNNING", tasks=first))
    opened = min(batch, tasks)
    for low in range(0, tasks, batch):
        round_tasks: list[TaskStatusEvent] = []
        for i in range(low, min(low + batch, tasks)):
            if shape == "together":
                round_tasks.append(executor(i, "RUNNING"))
            round_tasks += [executor(i, "SUCCEEDED"), iteration(i, "SUCCEEDED")]
            if opened < tasks:
                round_tasks.append(iteration(opened, "RUNNING"))
                if shape == "apart":
                    round_tasks.append(executor(opened, "RUNNING"))
                opened += 1
        state = None
        if low + batch >= tasks:
            round_tasks += [
                scope(loop, root, "root/for-loop-2", "loop", "SUCCEEDED"),
                scope(root, None, "root", "dag", "SUCCEEDED"),
            ]
            state = "SUCCEEDED"
        events.append(RunStatusEvent(run_id, 0, clock(), state, tasks=round_tasks))
    return events


class SqliteTarget:
    name = "sqlite"

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="bench-report-"))
        self.url = f"sqlite:///{self.folder / 'headrace.db'}"

    def prepare(self) -> None:
        (self.folder / "headrace.db").unlink(missing_ok=True)
        for suffix in ("-wal", "-shm"):
            (self.folder / f"headrace.db{suffix}").unlink(missing_ok=True)

    def cleanup(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def api_digest(run: Any) -> str:
    """A hash of the run as the API returns it (tasks, histories, times)."""
    data = dataclasses.asdict(run)
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


def measure(
    target: Any, tasks: int, batch: int, shape: str, profile: Callable[[], Any] | None
) -> dict[str, Any]:
    import migrations

    target.prepare()
    migrations.upgrade(target.url)
    settings = Settings(database_url=target.url, data_dir=Path(tempfile.gettempdir()))
    db = Database(build_engine(target.url))
    try:
        services = build_services(settings, db)
        services.runs.ctx.clock = Clock()
        services.runs.ctx.new_id = lambda: RUN_ID
        run = services.runs.create(
            RunInput(display_name="fan-out", source=PipelineSource(pipeline_spec=SPEC))
        )
        events = build_events(run.run_id, tasks, batch, shape)
        report = services.runs.report_status
        gc.collect()
        profiler = profile() if profile else None
        if profiler is not None:
            profiler.start()
        pg_before = postgres_cpu_seconds() if target.name == "postgresql" else 0.0
        cpu, wall = time.process_time(), time.perf_counter()
        for event in events:
            report(event)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        pg_cpu = postgres_cpu_seconds() - pg_before if target.name == "postgresql" else 0.0
        if profiler is not None:
            profiler.stop()
        result = services.runs.get(run.run_id)
        assert result.state == "SUCCEEDED", result.state
        assert len(result.tasks) == 2 * tasks + 2, len(result.tasks)
        return {
            "cpu_us": cpu / tasks * 1e6,
            "wall_us": wall / tasks * 1e6,
            "server_cpu_us": pg_cpu / tasks * 1e6,
            "reports": len(events),
            "digest": api_digest(result),
            "profiler": profiler,
        }
    finally:
        db.dispose()


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    p.add_argument("--pg-admin-url", default=DEFAULT_PG_ADMIN)
    p.add_argument("--tasks", type=int, default=1000)
    p.add_argument("--batches", default="16,64", help="items per report, comma-separated")
    p.add_argument("--shapes", default="together,apart", help="together, apart or both")
    p.add_argument("--repeat", type=int, default=3, help="best of N feeds per figure")
    p.add_argument("--profile", help="pyinstrument profile of the last feed: HTML, text if .txt")
    p.add_argument("--json", help="write the figures here")
    args = p.parse_args()

    profile = None
    if args.profile:
        from pyinstrument import Profiler

        profile = lambda: Profiler(interval=0.0005)  # noqa: E731
    target: Any = (
        SqliteTarget()
        if args.database == "sqlite"
        else PostgresBackend(args.pg_admin_url, PG_DATABASE)
    )
    import api_server

    print(f"code: {Path(api_server.__file__).resolve().parent.parent}")
    print(
        f"database: {target.name}; {args.tasks} tasks; best of {args.repeat}; load "
        + "/".join(f"{v:.2f}" for v in os.getloadavg())
    )
    figures: list[dict[str, Any]] = []
    last = None
    try:
        for shape in args.shapes.split(","):
            for batch in (int(b) for b in args.batches.split(",")):
                runs = [
                    measure(target, args.tasks, batch, shape, profile) for _ in range(args.repeat)
                ]
                best = min(runs, key=lambda r: r["cpu_us"])
                last = best["profiler"] or last
                digests = {r["digest"] for r in runs}
                line = (
                    f"shape {shape:8} batch {batch:3}: {best['cpu_us']:7.1f} us CPU/task, "
                    f"{best['wall_us']:7.1f} us wall/task ({best['reports']} reports)"
                )
                if target.name == "postgresql":
                    line += f", server {best['server_cpu_us']:6.1f} us CPU/task"
                print(line + f"  digest {','.join(sorted(digests))}", flush=True)
                figures.append(
                    {
                        "shape": shape,
                        "batch": batch,
                        **{k: v for k, v in best.items() if k != "profiler"},
                        "all_cpu_us": [round(r["cpu_us"], 1) for r in runs],
                    }
                )
    finally:
        target.cleanup()
    if last is not None and args.profile:
        text = args.profile.endswith(".txt")
        Path(args.profile).write_text(
            last.output_text(show_all=False) if text else last.output_html()
        )
        print(f"profile: {args.profile}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
