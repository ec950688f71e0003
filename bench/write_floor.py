"""How close to the raw spawn any durable orchestrator can get on this machine.

The fan-out figure compares the engine with spawning the same processes with no orchestrator.
But the engine must write each transition before acting on it, and record each task's lineage:
:func:`measure` spawns the same processes the same way as the raw baseline (16 threads, each
``subprocess.run``) and, on one control thread, does *only* those writes, in rounds as the
engine does: each round takes every task that ended, then, in one SQLite transaction, writes
their ends (two task rows updated, their state history, an ML-Metadata execution with its
properties and context) and the starts of the tasks that take the free slots (two task rows
inserted, their state history), and then starts those tasks. No IR, no placeholders, no logs,
no watcher: a lower bound on what the writes alone cost the wall time.

The rows are copies of the ones the engine wrote for the fan-out's run (its first executor task,
that task's iteration, its execution, properties and associations), written into a copy of the
server's database taken with SQLite's backup API, so their sizes and the indexes they update
are the real ones. The copy is deleted afterwards.
"""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any


def measure(
    database: Path,
    run_id: str,
    count: int,
    parallelism: int,
    command: Callable[[int], list[str]],
) -> dict[str, Any]:
    """Spawn ``count`` commands, ``parallelism`` at a time, writing what the engine writes for
    each, into a copy of ``database`` (the fan-out run ``run_id``'s rows as templates)."""
    with tempfile.TemporaryDirectory(prefix="headrace-write-floor-") as tmp:
        copy = sqlite3.connect(Path(tmp) / "floor.db", isolation_level=None)
        source = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
        try:
            source.backup(copy)
        finally:
            source.close()
        try:
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
                copy.execute(f"PRAGMA {pragma}")
            writer = _Writer(copy, run_id)
            return _run(writer, count, parallelism, command)
        finally:
            copy.close()


class _Writer:
    """The rows of one fan-out iteration, as the engine wrote them, replayed per task."""

    def __init__(self, db: sqlite3.Connection, run_id: str) -> None:
        db.row_factory = sqlite3.Row
        executor = db.execute(
            "SELECT * FROM run_tasks WHERE run_id = ? AND execution_id IS NOT NULL"
            " ORDER BY create_time LIMIT 1",
            (run_id,),
        ).fetchone()
        if executor is None:
            raise ValueError(f"run {run_id} has no executed task to copy")
        iteration = db.execute(
            "SELECT * FROM run_tasks WHERE task_id = ?", (executor["parent_task_id"],)
        ).fetchone()
        execution = db.execute(
            "SELECT * FROM mlmd_executions WHERE id = ?", (int(executor["execution_id"]),)
        ).fetchone()
        self.properties = [
            tuple(row)
            for row in db.execute(
                "SELECT * FROM mlmd_execution_properties WHERE node_id = ?", (execution["id"],)
            )
        ]
        self.contexts = [
            row[0]
            for row in db.execute(
                "SELECT context_id FROM mlmd_associations WHERE execution_id = ?",
                (execution["id"],),
            )
        ]
        db.row_factory = None
        self.db = db
        self.tasks = [dict(iteration), dict(executor)]
        # Statements and fixed values built once: the writer's own Python stays small.
        execution = dict(execution, external_id=None)
        del execution["id"]
        self.execution_name = list(execution).index("name")
        self.execution_values = list(execution.values())
        self.insert_execution = (
            f"INSERT INTO mlmd_executions ({', '.join(execution)})"
            f" VALUES ({', '.join('?' * len(execution))})"
        )
        marks = ", ".join("?" * len(self.properties[0]))
        self.insert_property = f"INSERT INTO mlmd_execution_properties VALUES ({marks})"
        columns = list(self.tasks[0])
        self.insert_task = (
            f"INSERT INTO run_tasks ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        )
        self.started_rows = [
            [None if c in ("end_time", "executor_detail", "outputs", "execution_id") else v
             for c, v in dict(t, state="RUNNING").items()]
            for t in self.tasks
        ]  # fmt: skip
        self.task_id_at = columns.index("task_id")
        self.times_at = (columns.index("create_time"), columns.index("start_time"))
        self.rows_per_task = 0

    def round(self, ended: list[int], starting: list[int]) -> None:
        """One transaction: the ends of ``ended``, then the starts of ``starting``."""
        db = self.db
        now = time.time_ns() // 1000
        rows = 0
        db.execute("BEGIN IMMEDIATE")
        updates, history = [], []
        for index in ended:
            values = self.execution_values.copy()
            values[self.execution_name] = uuid.uuid4().hex
            execution_id = db.execute(self.insert_execution, values).lastrowid
            db.executemany(
                self.insert_property, [(execution_id, *row[1:]) for row in self.properties]
            )
            db.executemany(
                "INSERT INTO mlmd_associations (context_id, execution_id) VALUES (?, ?)",
                [(context, execution_id) for context in self.contexts],
            )
            for position, task in enumerate(self.tasks):
                task_id = f"{index}/{position}"
                updates.append(
                    (task["state"], now, task["executor_detail"], task["outputs"],
                     str(execution_id), task_id)
                )  # fmt: skip
                history.append((task_id, task["state"], now))
            rows += 1 + len(self.properties) + len(self.contexts) + 2 * len(self.tasks)
        db.executemany(
            "UPDATE run_tasks SET state = ?, end_time = ?, executor_detail = ?,"
            " outputs = ?, execution_id = ? WHERE task_id = ?",
            updates,
        )
        inserts = []
        for index in starting:
            for position, template in enumerate(self.started_rows):
                row = template.copy()
                row[self.task_id_at] = task_id = f"{index}/{position}"
                row[self.times_at[0]] = row[self.times_at[1]] = now
                inserts.append(row)
                history.append((task_id, "RUNNING", now))
            rows += 2 * len(self.tasks)
        db.executemany(self.insert_task, inserts)
        db.executemany(
            "INSERT INTO task_state_history (task_id, state, error, update_time)"
            " VALUES (?, ?, NULL, ?)",
            history,
        )
        db.execute("COMMIT")
        self.rows_per_task += rows


def _run(
    writer: _Writer, count: int, parallelism: int, command: Callable[[int], list[str]]
) -> dict[str, Any]:
    ended_queue: queue.SimpleQueue[int] = queue.SimpleQueue()

    failures: list[str] = []

    def one(index: int) -> None:
        try:
            subprocess.run(command(index), check=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            failures.append(str(exc))
        finally:
            ended_queue.put(index)

    started = time.perf_counter()
    cpu = time.process_time()
    writer_cpu = 0.0
    rounds = running = finished = following = 0
    with ThreadPoolExecutor(parallelism) as pool:
        while finished < count:
            ended: list[int] = []
            if running:
                ended.append(ended_queue.get())
                while not ended_queue.empty():
                    ended.append(ended_queue.get())
            running -= len(ended)
            finished += len(ended)
            starting = list(range(following, min(count, following + parallelism - running)))
            following += len(starting)
            before = time.thread_time()
            writer.round(ended, starting)
            writer_cpu += time.thread_time() - before
            rounds += 1
            for index in starting:
                pool.submit(one, index)
            running += len(starting)
    if failures:
        raise RuntimeError(f"{len(failures)} of {count} commands failed: {failures[0]}")
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,  # the writer and the spawning threads
        "writes_cpu_s": writer_cpu,  # the writes alone (this thread's CPU in round())
        "rounds": rounds,
        "rows_per_task": writer.rows_per_task / count,
    }
