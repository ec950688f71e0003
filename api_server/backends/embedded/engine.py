"""The embedded engine: a run backend that executes pipelines on this machine.

Threads
-------
* One **control thread** owns every run's :class:`RunInterpreter`. Everything that changes
  a run (submit, a job finished, terminate, retry) is a command on its queue, so the
  interpreters need no locks and events of one run are applied in order.
* A **worker pool** (``engine_parallelism`` threads) runs jobs: cache look-up, the task
  process, outputs. A worker tells the control thread when the process started and hands it
  the outcome, which is recorded before anything downstream starts.
* The control thread takes every command waiting on its queue; it records the lineage of
  the jobs that finished among them (and stores their cache entries) in one batch, applies
  the commands, then writes the resulting transitions in one transaction per run: a
  fan-out of many short tasks is recorded in groups instead of a transaction per task, and
  the workers never wait on the database's write lock.

Durability: every transition is reported (and committed) before the engine acts on it. After
a crash, :meth:`start` asks the sink for unfinished runs and the tasks they reported; each
run is rebuilt by its interpreter, which restores the executor tasks that had succeeded and
runs everything else again. Processes left behind by the crashed server are killed first
(each run keeps a list of the task processes it started, with their start times).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api_server.backends.base import RunStatusEvent, StatusSink, SubmittedRun

from .interpreter import Job, JobOutcome, RunInterpreter, Step
from .runner import JobRunner, process_ran

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EngineConfig:
    parallelism: int = 8
    run_parallelism: int = 0  # 0: only the global limit applies
    default_pipeline_root: str = ""
    run_timeout_seconds: float | None = None  # a run still going after this fails


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
        self.registry = CollectorRegistry()
        self._metrics = _EngineMetrics(self.registry, lambda: len(self._runs))

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
        """Take every command that is waiting, apply them, then write what they changed in
        one report per run: under load, transitions are committed in groups."""
        handlers: dict[str, Callable[[Any, _Batch], None]] = {
            "resume": self._on_resume,
            "submit": self._on_submit,
            "started": self._on_started,
            "done": self._on_done,
            "terminate": self._on_terminate,
            "deadline": self._on_deadline,
            "rebuild": self._on_rebuild,
        }
        while True:
            commands = [self._commands.get()]
            while len(commands) < _MAX_BATCH:
                try:
                    commands.append(self._commands.get_nowait())
                except queue.Empty:
                    break
            began = time.perf_counter()
            self._finish_jobs(commands)
            recorded = time.perf_counter()
            batch = _Batch()
            for command, payload in commands:
                if command == "stop":
                    self._flush(batch)
                    return
                try:
                    handlers[command](payload, batch)
                except Exception:  # keep the engine alive; the run resumes on restart
                    logger.exception("engine command failed", extra={"command": command})
            applied = time.perf_counter()
            try:
                self._flush(batch)
            except Exception:
                logger.exception("engine could not record a batch of transitions")
            self._metrics.round_phases(began, recorded, applied, time.perf_counter())

    def _finish_jobs(self, commands: list[tuple[str, Any]]) -> None:
        """Record the lineage (and cache entries) of the jobs that finished in this round,
        in one batch, before their outcomes are applied and reported."""
        positions = [i for i, (command, _) in enumerate(commands) if command == "done"]
        if not positions:
            return
        finished: list[_Finished] = [commands[i][1] for i in positions]
        try:
            outcomes = self.runner.finish([(f.job, f.cache_key, f.outcome) for f in finished])
        except Exception:  # lineage and cache are records, not conditions of success
            logger.exception("could not record the lineage of finished jobs")
            return
        for position, done, outcome in zip(positions, finished, outcomes, strict=True):
            commands[position] = ("done", done._replace(outcome=outcome))

    @property
    def sink(self) -> StatusSink:
        assert self._sink is not None, "the engine was not started"
        return self._sink

    def _on_resume(self, _: None, batch: _Batch) -> None:
        runs = self.sink.unfinished_runs()
        if runs:
            logger.info("resuming unfinished runs", extra={"runs": len(runs)})
        for run in runs:
            self._start_run(run, batch, resuming=True)

    def _on_submit(self, run: SubmittedRun, batch: _Batch) -> None:
        self._start_run(run, batch, resuming=False)

    def _start_run(self, run: SubmittedRun, batch: _Batch, *, resuming: bool) -> None:
        current = self._runs.get(run.run_id)
        if current is not None and current.run.generation >= run.generation:
            return  # submitted twice: already running
        if current is not None:
            batch.add(current, current.cancel())
        if resuming:
            self.runner.reap_orphans(run.run_id)
        restored = self.sink.reported_tasks(run.run_id)
        interpreter = RunInterpreter(
            run,
            restored=restored,
            max_parallel=self.config.run_parallelism,
            default_pipeline_root=self.config.default_pipeline_root,
            clock=self.clock,
        )
        self._runs[run.run_id] = interpreter
        logger.info(
            "run resumed" if resuming else "run started",
            extra={"run_id": run.run_id, "generation": run.generation},
        )
        batch.add(interpreter, interpreter.start())
        self._arm_deadline(run)

    def _arm_deadline(self, run: SubmittedRun) -> None:
        """Fail the run if it is still going ``run_timeout_seconds`` after it was created
        (a resumed run keeps its original deadline)."""
        limit = self.config.run_timeout_seconds
        if not limit:
            return
        elapsed = (self.clock() - run.created_at).total_seconds()
        timer = threading.Timer(
            max(0.0, limit - elapsed),
            lambda: self._commands.put(("deadline", (run.run_id, run.generation))),
        )
        timer.daemon = True
        timer.start()

    def _on_deadline(self, payload: tuple[str, int], batch: _Batch) -> None:
        run_id, generation = payload
        interpreter = self._runs.get(run_id)
        if interpreter is None or interpreter.run.generation != generation:
            return
        limit = self.config.run_timeout_seconds or 0
        logger.info("run deadline exceeded", extra={"run_id": run_id, "seconds": limit})
        message = f"the run exceeded its deadline of {limit:g} seconds"
        batch.add(interpreter, interpreter.cancel(deadline=message))

    def _on_started(
        self, payload: tuple[str, int, str, datetime, dict[str, Any]], batch: _Batch
    ) -> None:
        run_id, generation, node_id, when, detail = payload
        interpreter = self._runs.get(run_id)
        if interpreter is not None and interpreter.run.generation == generation:
            batch.add(interpreter, interpreter.job_started(node_id, when, detail))

    def _on_done(self, done: _Finished, batch: _Batch) -> None:
        interpreter = self._runs.get(done.run_id)
        if interpreter is not None and interpreter.run.generation == done.generation:
            if done.unreported_start and done.outcome.start_time is not None:
                batch.add(
                    interpreter, interpreter.job_started(done.node_id, done.outcome.start_time)
                )
            batch.add(interpreter, interpreter.job_finished(done.node_id, done.outcome))

    def _on_terminate(self, run_id: str, batch: _Batch) -> None:
        interpreter = self._runs.get(run_id)
        if interpreter is None:
            # Not executing here (finished meanwhile, or never loaded): end it directly.
            generation = next((r.generation for r in self.sink.unfinished_runs(run_id)), 0)
            self.sink.report(RunStatusEvent(run_id, generation, self.clock(), "CANCELED"))
            return
        batch.add(interpreter, interpreter.cancel())

    def _flush(self, batch: _Batch) -> None:
        """Record every run's transitions (one transaction each), then act on them. A run
        whose transitions cannot be recorded (the database is away) is not acted on: it is
        set aside, its jobs stopped, and rebuilt from the database once it answers again."""
        self._metrics.batches.observe(sum(len(step.tasks) for _, step in batch.steps.values()))
        recorded = []
        for interpreter, step in batch.steps.values():
            run = interpreter.run
            if step.tasks or step.run_state:
                event = RunStatusEvent(
                    run_id=run.run_id,
                    generation=run.generation,
                    update_time=self.clock(),
                    state=step.run_state,
                    error=step.run_error,
                    tasks=step.tasks,
                )
                if not self._report(event):
                    self._set_aside(interpreter, step)
                    continue
            recorded.append((interpreter, step))
        for interpreter, step in recorded:
            for node_id in step.kill:
                self.runner.kill(node_id)
            for job in step.jobs:
                self._pool.submit(self._work, job)
            run = interpreter.run
            if interpreter.finished and self._runs.get(run.run_id) is interpreter:
                del self._runs[run.run_id]
                self.runner.close_run(run.run_id)
                logger.info(
                    "run finished", extra={"run_id": run.run_id, "state": step.run_state or ""}
                )

    def _report(self, event: RunStatusEvent) -> bool:
        """Write one run's transitions, retrying a failing database briefly."""
        for attempt, pause in enumerate((0.0, *_REPORT_RETRY_PAUSES)):
            if pause:
                time.sleep(pause)
            try:
                self.sink.report(event)
                return True
            except Exception as exc:
                logger.warning(
                    "could not record a run's transitions",
                    extra={"run_id": event.run_id, "attempt": attempt + 1, "error": str(exc)},
                )
        return False

    def _set_aside(self, interpreter: RunInterpreter, step: Step) -> None:
        """Stop acting on a run whose transitions were not recorded, and rebuild it from
        the database later: what was recorded is the truth, so nothing runs twice."""
        run = interpreter.run
        if self._runs.get(run.run_id) is interpreter:
            del self._runs[run.run_id]
        never_started = {job.node_id for job in step.jobs}
        for node_id in interpreter.running_jobs - never_started:
            self.runner.kill(node_id)
        self._metrics.set_aside.inc()
        logger.error(
            "run set aside until the database answers; it resumes from what was recorded",
            extra={"run_id": run.run_id, "retry_in_seconds": _RESUME_AFTER_SECONDS},
        )
        timer = threading.Timer(
            _RESUME_AFTER_SECONDS, lambda: self._commands.put(("rebuild", run.run_id))
        )
        timer.daemon = True
        timer.start()

    def _on_rebuild(self, run_id: str, batch: _Batch) -> None:
        """Resume a set-aside run from the database (if it still needs running)."""
        if run_id in self._runs:
            return
        try:
            runs = self.sink.unfinished_runs(run_id)
        except Exception:
            logger.warning("database still away; retrying later", extra={"run_id": run_id})
            timer = threading.Timer(
                _RESUME_AFTER_SECONDS, lambda: self._commands.put(("rebuild", run_id))
            )
            timer.daemon = True
            timer.start()
            return
        for run in runs:
            self._start_run(run, batch, resuming=True)

    # --- workers ------------------------------------------------------------------------

    def _work(self, job: Job) -> None:
        if self._stopping.is_set():
            return
        started = self.clock()
        key = (job.run_id, job.generation, job.node_id)
        cache_key = ""
        reported: list[bool] = []

        def report_start(detail: dict[str, Any]) -> None:
            reported.append(True)
            self._commands.put(("started", (*key, started, detail)))

        try:
            cache_key = self.runner.cache_key(job)
            outcome = self.runner.cached(job, cache_key, started=started)
            if outcome is None:
                outcome = self.runner.run(job, cache_key, started=started, on_start=report_start)
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
        self._metrics.task_done(outcome)
        # A short task's start was not reported on its own: it is, with its end.
        unreported_start = not reported and process_ran(outcome)
        self._commands.put(("done", _Finished(*key, outcome, job, cache_key, unreported_start)))


class _Finished(NamedTuple):
    """The "done" command: a job's outcome, with the job and cache key that ``finish``
    needs to record its lineage and store its cache entry."""

    run_id: str
    generation: int
    node_id: str
    outcome: JobOutcome
    job: Job
    cache_key: str
    unreported_start: bool = False


# Commands applied before their transitions are written in one go.
_MAX_BATCH = 1000
# A failing report is retried after these pauses; then the run is set aside and rebuilt
# from the database this many seconds later.
_REPORT_RETRY_PAUSES = (0.2, 1.0, 3.0)
_RESUME_AFTER_SECONDS = 5.0


class _Batch:
    """Steps of one control-loop round, merged per run in the order they happened."""

    def __init__(self) -> None:
        self.steps: dict[str, tuple[RunInterpreter, Step]] = {}

    def add(self, interpreter: RunInterpreter, step: Step) -> None:
        run_id = interpreter.run.run_id
        current = self.steps.get(run_id)
        if current is None or current[0] is not interpreter:
            if current is not None:
                self.steps[f"{run_id}#{id(current[0])}"] = current
            self.steps[run_id] = (interpreter, step)
            return
        merged = current[1]
        merged.tasks.extend(step.tasks)
        merged.jobs.extend(step.jobs)
        merged.kill.extend(step.kill)
        if step.run_state:
            merged.run_state, merged.run_error = step.run_state, step.run_error


class _EngineMetrics:
    """The engine's Prometheus series (served on ``/metrics`` beside the API's)."""

    def __init__(self, registry: CollectorRegistry, active_runs: Callable[[], int]) -> None:
        gauge = Gauge(
            "headrace_engine_active_runs",
            "Runs the embedded engine is executing.",
            registry=registry,
        )
        gauge.set_function(active_runs)
        self.tasks = Counter(
            "headrace_engine_tasks_total",
            "Executor tasks finished by the embedded engine, by final state; cached hits apart.",
            ["state", "cached"],
            registry=registry,
        )
        self.seconds = Histogram(
            "headrace_engine_task_seconds",
            "Wall time of executor tasks, from pick-up to outcome (retries included).",
            buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
            registry=registry,
        )
        self.set_aside = Counter(
            "headrace_engine_runs_set_aside_total",
            "Runs whose transitions could not be recorded; each is rebuilt from the database.",
            registry=registry,
        )
        self.batches = Histogram(
            "headrace_engine_transitions_per_commit",
            "Task transitions written per control-loop round (group commit size).",
            buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
            registry=registry,
        )

        self.round_seconds = Counter(
            "headrace_engine_round_seconds",
            "Time the engine's control thread spent per phase of its rounds: recording lineage"
            " of finished jobs, applying commands, writing transitions and acting on them.",
            ["phase"],
            registry=registry,
        )
        self.rounds = Counter(
            "headrace_engine_rounds",
            "Rounds of the engine's control thread (each takes every command waiting).",
            registry=registry,
        )
        self._phases = [self.round_seconds.labels(phase=p) for p in ("lineage", "apply", "write")]

    def round_phases(self, began: float, recorded: float, applied: float, ended: float) -> None:
        self.rounds.inc()
        lineage, apply, write = self._phases
        lineage.inc(recorded - began)
        apply.inc(applied - recorded)
        write.inc(ended - applied)

    def task_done(self, outcome: JobOutcome) -> None:
        cached = bool((outcome.executor_detail or {}).get("cached"))
        self.tasks.labels(state=outcome.state, cached=str(cached).lower()).inc()
        if outcome.start_time and outcome.end_time:
            self.seconds.observe((outcome.end_time - outcome.start_time).total_seconds())
