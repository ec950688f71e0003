"""The embedded engine: a run backend that executes pipelines on this machine.

Threads
-------
* One **control thread** owns every run's :class:`RunInterpreter`. Everything that changes
  a run (submit, a job finished, terminate, retry) is a command on its queue, so the
  interpreters need no locks and events of one run are applied in order.
* A **worker pool** (``engine_parallelism`` threads) runs jobs: cache look-up, the task
  process, outputs. A worker reports the task RUNNING before it starts the process and hands
  the outcome back to the control thread, which reports it before acting on it.

Durability: every transition is reported (and committed) before the engine acts on it. After
a crash, :meth:`start` asks the sink for unfinished runs and the tasks they reported; each
run is rebuilt by its interpreter, which restores the executor tasks that had succeeded and
runs everything else again. Processes left behind by the crashed server are killed first
(their pid and start time are recorded with the task).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from api_server.backends.base import (
    RunStatusEvent,
    StatusSink,
    SubmittedRun,
    TaskStatusEvent,
)

from .interpreter import RUNNING, Job, JobOutcome, RunInterpreter, Step
from .runner import JobRunner

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    parallelism: int = 8
    run_parallelism: int = 0  # 0: only the global limit applies
    default_pipeline_root: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


class EmbeddedEngine:
    """``RunBackend`` implementation that runs tasks as local processes."""

    reports_cancellation = True

    def __init__(
        self,
        runner: JobRunner,
        config: EngineConfig | None = None,
        *,
        clock: Callable[[], datetime] = _now,
    ) -> None:
        self.runner = runner
        self.config = config or EngineConfig()
        self.clock = clock
        self._sink: StatusSink | None = None
        self._commands: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._runs: dict[str, RunInterpreter] = {}
        self._pool = ThreadPoolExecutor(
            max_workers=self.config.parallelism, thread_name_prefix="headrace-task"
        )
        self._thread = threading.Thread(
            target=self._control_loop, name="headrace-engine", daemon=True
        )
        self._stopping = threading.Event()

    # --- RunBackend ---------------------------------------------------------------------

    def start(self, sink: StatusSink) -> None:
        self._sink = sink
        self._thread.start()
        self._commands.put(("resume", None))

    def submit(self, run: SubmittedRun) -> None:
        self._commands.put(("submit", run))

    def terminate(self, run_id: str) -> None:
        self._commands.put(("terminate", run_id))

    def retry(self, run: SubmittedRun) -> None:
        self._commands.put(("submit", run))

    def stop(self) -> None:
        """Stop taking work and kill running task processes; their tasks stay RUNNING in
        the database and run again when the server comes back."""
        self._stopping.set()
        self._commands.put(("stop", None))
        self.runner.kill_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)

    # --- control thread -----------------------------------------------------------------

    def _control_loop(self) -> None:
        handlers: dict[str, Callable[[Any], None]] = {
            "resume": self._on_resume,
            "submit": self._on_submit,
            "done": self._on_done,
            "terminate": self._on_terminate,
        }
        while True:
            command, payload = self._commands.get()
            if command == "stop":
                return
            try:
                handlers[command](payload)
            except Exception:  # keep the engine alive; the run is retried on restart
                logger.exception("engine command failed", extra={"command": command})

    @property
    def sink(self) -> StatusSink:
        assert self._sink is not None, "the engine was not started"
        return self._sink

    def _on_resume(self, _: None) -> None:
        runs = self.sink.unfinished_runs()
        if runs:
            logger.info("resuming unfinished runs", extra={"runs": len(runs)})
        for run in runs:
            self._on_submit(run, resuming=True)

    def _on_submit(self, run: SubmittedRun, *, resuming: bool = False) -> None:
        current = self._runs.get(run.run_id)
        if current is not None and current.run.generation >= run.generation:
            return  # submitted twice: already running
        if current is not None:
            self._apply(current, current.cancel())
        restored = self.sink.reported_tasks(run.run_id)
        if resuming:
            self.runner.reap_orphans(restored)
        interpreter = RunInterpreter(
            run,
            restored=restored,
            max_parallel=self.config.run_parallelism,
            default_pipeline_root=self.config.default_pipeline_root,
            clock=self.clock,
        )
        self._runs[run.run_id] = interpreter
        logger.info(
            "run started" if not resuming else "run resumed",
            extra={"run_id": run.run_id, "generation": run.generation},
        )
        self._apply(interpreter, interpreter.start())

    def _on_done(self, payload: tuple[str, int, str, JobOutcome]) -> None:
        run_id, generation, node_id, outcome = payload
        interpreter = self._runs.get(run_id)
        if interpreter is None or interpreter.run.generation != generation:
            return
        self._apply(interpreter, interpreter.job_finished(node_id, outcome))

    def _on_terminate(self, run_id: str) -> None:
        interpreter = self._runs.get(run_id)
        if interpreter is None:
            # Not executing here (finished meanwhile, or never loaded): end it directly.
            self.sink.report(
                RunStatusEvent(run_id, self._generation_of(run_id), self.clock(), "CANCELED")
            )
            return
        self._apply(interpreter, interpreter.cancel())

    def _generation_of(self, run_id: str) -> int:
        for run in self.sink.unfinished_runs():
            if run.run_id == run_id:
                return run.generation
        return 0

    def _apply(self, interpreter: RunInterpreter, step: Step) -> None:
        run = interpreter.run
        if step.tasks or step.run_state:
            self.sink.report(
                RunStatusEvent(
                    run_id=run.run_id,
                    generation=run.generation,
                    update_time=self.clock(),
                    state=step.run_state,
                    error=step.run_error,
                    tasks=step.tasks,
                )
            )
        for node_id in step.kill:
            self.runner.kill(node_id)
        for job in step.jobs:
            self._pool.submit(self._work, job)
        if interpreter.finished:
            self._runs.pop(run.run_id, None)
            logger.info(
                "run finished",
                extra={"run_id": run.run_id, "state": step.run_state or ""},
            )

    # --- workers ------------------------------------------------------------------------

    def _work(self, job: Job) -> None:
        if self._stopping.is_set():
            return
        started = self.clock()
        try:
            outcome = self.runner.cached(job, started=started)
            if outcome is not None:
                self._commands.put(("done", (job.run_id, job.generation, job.node_id, outcome)))
                return
            self.sink.report(
                RunStatusEvent(
                    run_id=job.run_id,
                    generation=job.generation,
                    update_time=started,
                    tasks=[
                        TaskStatusEvent(
                            task_id=job.node_id,
                            state=RUNNING,
                            update_time=started,
                            display_name=job.display_name,
                            start_time=started,
                        )
                    ],
                )
            )
            outcome = self.runner.run(job, started=started, report=self._report_detail(job))
        except Exception as exc:  # a bug or an unreachable database: fail the task, loudly
            logger.exception("task execution failed", extra={"run_id": job.run_id})
            outcome = JobOutcome(
                state="FAILED",
                error=f"internal error: {exc}",
                start_time=started,
                end_time=self.clock(),
            )
        if self._stopping.is_set():
            return  # shutting down: the task runs again after restart
        self._commands.put(("done", (job.run_id, job.generation, job.node_id, outcome)))

    def _report_detail(self, job: Job) -> Callable[[dict[str, Any]], None]:
        """Lets the runner record facts mid-task (process id, attempt) before acting."""

        def report(detail: dict[str, Any]) -> None:
            now = self.clock()
            self.sink.report(
                RunStatusEvent(
                    run_id=job.run_id,
                    generation=job.generation,
                    update_time=now,
                    tasks=[
                        TaskStatusEvent(
                            task_id=job.node_id,
                            state=RUNNING,
                            update_time=now,
                            display_name=job.display_name,
                            executor_detail=detail,
                        )
                    ],
                )
            )

        return report
