"""The embedded engine: a run backend that executes pipelines on this machine.

Threads
-------
* One **control thread** owns every run's :class:`RunInterpreter`. Everything that changes
  a run (submit, a job finished, terminate, retry) is a command on its queue, so the
  interpreters need no locks and events of one run are applied in order.
* The control thread also **starts task attempts** itself when nothing can block first
  (scratch folder, executor input, command, then, at the end of the round, a request to a
  task starter process) and handles their ends. The launcher's watcher thread says when a
  process has ended (its output all read). No thread waits on a running task.
* A **worker pool** (``engine_parallelism`` threads, idle but for this) takes what may
  block: a cache look-up, building a task's Python environment, downloading remote inputs
  before a start; uploading outputs after an end.
* ``engine_parallelism`` jobs run at once, all runs together; the others wait in a queue.
* The control thread takes every command waiting on its queue (and every timer that is
  due: reporting a start, a retry's backoff, a timeout, a kill's grace period); it records
  the lineage of the jobs that finished among them (and stores their cache entries) in one
  batch, applies them, then writes the resulting transitions in one transaction per run: a
  fan-out of many short tasks is recorded in groups instead of a transaction per task, and
  nothing else waits on the database's write lock. While several jobs are in flight, rounds
  start at most every ``_ROUND_PERIOD`` seconds, so that groups form.

Durability: every transition is reported (and committed) before the engine acts on it. After
a crash, :meth:`start` asks the sink for unfinished runs and the tasks they reported; each
run is rebuilt by its interpreter, which restores the executor tasks that had succeeded and
runs everything else again. Processes left behind by the crashed server are killed first
(each run keeps a list of the task processes it started, with their start times: a pid
now held by another process is left alone).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from api_server.backends.base import RunStatusEvent, StatusSink, SubmittedRun

from .interpreter import CANCELED, FAILED, SUCCEEDED, Job, JobOutcome, RunInterpreter, Step
from .runner import START_REPORT_DELAY, Execution, JobRunner, process_ran

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
            max_workers=self.config.parallelism,
            thread_name_prefix="headrace-task",
        )
        # Jobs handed to the engine and not finished, by (generation, node id); those not
        # started yet wait in _queue for one of the ``parallelism`` slots.
        # Attempts prepared this round, spawned at its end (see _spawn_prepared).
        self._prepared: list[tuple[_Active, int]] = []
        self._jobs: dict[tuple[int, str], _Active] = {}
        self._queue: deque[_Active] = deque()
        self._in_slots = 0
        self._finished: list[_Finished] = []  # ended this round, lineage not recorded yet
        self._deleted: set[str] = set()  # runs deleted while running: forgotten when ended
        self._timers: list[tuple[float, int, str, Any]] = []
        self._timer_ids = itertools.count()
        self._round_began = 0.0
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
        self._commands.put(("housekeeping", None))

    def submit(self, run: SubmittedRun) -> None:
        self._commands.put(("submit", run))

    def terminate(self, run_id: str) -> None:
        self._commands.put(("terminate", run_id))

    def retry(self, run: SubmittedRun) -> None:
        self._commands.put(("submit", run))

    def forget(self, run_id: str) -> None:
        self._commands.put(("forget", run_id))

    def stop(self) -> None:
        """Stop taking work and kill running task processes; their tasks stay RUNNING in
        the database and run again when the server comes back."""
        self._stopping.set()
        self._commands.put(("stop", None))
        self.runner.kill_all()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.runner.close()

    # --- control thread -----------------------------------------------------------------

    def _control_loop(self) -> None:
        """Take every command that is waiting, apply them, then write what they changed in
        one report per run: under load, transitions are committed in groups."""
        handlers: dict[str, Callable[[Any, _Batch], None]] = {
            "resume": self._on_resume,
            "submit": self._on_submit,
            "launched": self._on_launched,
            "exited": self._on_exited,
            "attempt_ended": self._on_attempt_ended,
            "done": self._on_done,
            "report_start": self._on_report_start,
            "timeout": self._on_timeout,
            "force_stop": self._on_force_stop,
            "relaunch": self._on_relaunch,
            "terminate": self._on_terminate,
            "deadline": self._on_deadline,
            "rebuild": self._on_rebuild,
            "housekeeping": self._on_housekeeping,
            "forget": self._on_forget,
        }
        while True:
            commands = self._take_commands()
            began = time.perf_counter()
            batch = _Batch()
            for command, payload in commands:
                if command == "stop":
                    self._flush(batch)
                    return
                try:
                    handlers[command](payload, batch)
                except Exception:  # keep the engine alive; the run resumes on restart
                    logger.exception("engine command failed", extra={"command": command})
            handled = time.perf_counter()
            self._apply_finished(batch)
            applied = time.perf_counter()
            written = applied
            try:
                written = self._flush(batch)
                self._spawn_prepared()
            except Exception:
                logger.exception("engine could not record a batch of transitions")
            self._metrics.round_phases(began, handled, applied, written, time.perf_counter())

    def _take_commands(self) -> list[tuple[str, Any]]:
        """Every command waiting and every timer due; waits for one if there is none (and
        no job ended in the last round's actions, which still needs its round)."""
        commands: list[tuple[str, Any]] = []
        block = not (self._finished or self._prepared)
        while True:
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, command, payload = heapq.heappop(self._timers)
                commands.append((command, payload))
            if commands or not block:
                break
            wait = self._timers[0][0] - now if self._timers else None
            try:
                commands.append(self._commands.get(timeout=wait))
            except queue.Empty:
                continue
        while len(commands) < _MAX_BATCH:
            try:
                commands.append(self._commands.get_nowait())
            except queue.Empty:
                break
        # With several jobs in flight, more ends are coming: a round starts at most every
        # _ROUND_PERIOD seconds, so their ends share its two transactions.
        if self._in_slots > 1:
            deadline = self._round_began + _ROUND_PERIOD
            while len(commands) < _MAX_BATCH:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                try:
                    commands.append(self._commands.get(timeout=remaining))
                except queue.Empty:
                    break
        self._round_began = time.monotonic()
        return commands

    def _at(self, delay: float, command: str, payload: Any) -> None:
        """Run ``command`` on the control thread ``delay`` seconds from now."""
        heapq.heappush(
            self._timers, (time.monotonic() + delay, next(self._timer_ids), command, payload)
        )

    def _apply_finished(self, batch: _Batch) -> None:
        """Record the lineage (and cache entries) of the jobs that finished in this round,
        in one batch, then apply their outcomes: a reported task's lineage is stored."""
        finished, self._finished = self._finished, []
        if not finished:
            return
        try:
            outcomes = self.runner.finish([(f.job, f.cache_key, f.outcome) for f in finished])
            finished = [f._replace(outcome=o) for f, o in zip(finished, outcomes, strict=True)]
        except Exception:  # lineage and cache are records, not conditions of success
            logger.exception("could not record the lineage of finished jobs")
        for done in finished:
            try:
                self._apply_done(done, batch)
            except Exception:
                logger.exception("engine command failed", extra={"command": "done"})

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

    def _apply_done(self, done: _Finished, batch: _Batch) -> None:
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

    def _flush(self, batch: _Batch) -> float:
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
        written = time.perf_counter()
        for interpreter, step in recorded:
            generation = interpreter.run.generation
            for node_id in step.kill:
                self._kill(generation, node_id)
            for job in step.jobs:
                self._add_job(job)
            run = interpreter.run
            if interpreter.finished and self._runs.get(run.run_id) is interpreter:
                del self._runs[run.run_id]
                self.runner.close_run(run.run_id)
                if run.run_id in self._deleted:
                    self._deleted.discard(run.run_id)
                    self._pool.submit(self.runner.forget_run, run.run_id)
                elif step.run_state == SUCCEEDED:
                    self._pool.submit(self.runner.remove_scratch, run.run_id)
                logger.info(
                    "run finished", extra={"run_id": run.run_id, "state": step.run_state or ""}
                )
        return written

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
            self._kill(run.generation, node_id)
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

    def _on_forget(self, run_id: str, _: _Batch) -> None:
        """The run was deleted: its files go once it has stopped here (at once if it is
        not running)."""
        if run_id in self._runs:
            self._deleted.add(run_id)  # terminated by the deletion: see _flush
        else:
            self._pool.submit(self.runner.forget_run, run_id)

    def _on_housekeeping(self, _: None, __: _Batch) -> None:
        """Now and every _HOUSEKEEPING_PERIOD, on a worker (it may delete gigabytes):
        remove the Python environments no task has used for the configured time, and the
        files of runs deleted without this engine being told (while it was down, or
        through another server)."""
        self._pool.submit(self._housekeeping, frozenset(self._runs))
        self._at(_HOUSEKEEPING_PERIOD, "housekeeping", None)

    def _housekeeping(self, running: frozenset[str]) -> None:
        try:
            self.runner.environments.collect()
        except Exception:  # housekeeping: try again next period
            logger.exception("could not remove unused Python environments")
        try:
            folders = [run_id for run_id in self.runner.run_folders() if run_id not in running]
            existing = self.sink.existing_runs(folders) if folders else set()
            for run_id in folders:
                if run_id not in existing and self.runner.forget_run(run_id):
                    logger.info("removed the files of a deleted run", extra={"run_id": run_id})
        except Exception:
            logger.exception("could not remove the files of deleted runs")

    # --- jobs ---------------------------------------------------------------------------
    # A job goes: queued (waiting for a slot) -> preparing (worker, if anything may block)
    # -> running an attempt -> [waiting for its retry -> running ...] -> finished. All of
    # it happens on the control thread except preparing and remote uploads.

    def _add_job(self, job: Job) -> None:
        active = _Active(job, self.clock())
        self._jobs[(job.generation, job.node_id)] = active
        self._queue.append(active)
        self._fill_slots()

    def _fill_slots(self) -> None:
        while self._queue and self._in_slots < self.config.parallelism:
            active = self._queue.popleft()
            if active.phase != _QUEUED:
                continue  # cancelled while it waited
            self._in_slots += 1
            self._begin(active)

    def _begin(self, active: _Active) -> None:
        """Start the job: on the control thread when nothing can block first (its process
        is spawned at the end of the round), else on a worker."""
        job = active.job
        active.started = self.clock()
        active.phase = _PREPARING
        try:
            active.cache_key = self.runner.cache_key(job)
            in_worker = self.runner.needs_worker(job, active.cache_key)
        except Exception as exc:
            self._internal_error(active, exc)
            return
        if in_worker:
            self._pool.submit(self._prepare, active)
        else:
            self._launch(active, spawn_here=False)
            self._on_launched(active, None)

    def _prepare(self, active: _Active) -> None:
        """Worker: the cache look-up, then the first attempt (whose start may build an
        environment or download inputs)."""
        if self._stopping.is_set():
            return
        try:
            outcome = self.runner.cached(active.job, active.cache_key, started=active.started)
        except Exception as exc:
            logger.exception("cache look-up failed", extra={"run_id": active.job.run_id})
            outcome = self._error_outcome(active, exc)
        if outcome is not None:
            self._commands.put(("done", (active, outcome)))
            return
        self._launch(active, spawn_here=True)
        self._commands.put(("launched", active))

    def _launch(self, active: _Active, *, spawn_here: bool) -> None:
        """Prepare the job's next attempt and spawn its process, now or (on the control
        thread) at the end of the round. An attempt that cannot start has ended already: its
        end is handled as if its process had exited."""
        if active.cancelled:
            active.phase = _RUNNING  # ends CANCELED in _on_exited
            self._commands.put(("exited", (active, active.attempt)))
            return
        try:
            if active.execution is None:
                active.execution = self.runner.open(
                    active.job, active.cache_key, started=active.started
                )
            execution = active.execution
            active.phase = _RUNNING
            prepared = self.runner.prepare_attempt(execution)
            active.attempt = execution.number
        except Exception as exc:  # a bug, or an unreachable store: fail the task, loudly
            self._launch_failed(active, exc)
            return
        if not prepared:
            self._commands.put(("exited", (active, active.attempt)))
        elif spawn_here:
            self._spawn(active, active.attempt)
        else:
            self._prepared.append((active, active.attempt))

    def _spawn_prepared(self) -> None:
        """Start the processes of the attempts prepared this round, once its transitions
        are written: each is a request to a task starter process (see ``launcher``), which
        waits for the kernel to start the program while this thread goes on."""
        prepared, self._prepared = self._prepared, []
        for active, attempt in prepared:
            self._spawn(active, attempt)

    def _spawn(self, active: _Active, attempt: int) -> None:
        execution = active.execution
        assert execution is not None
        try:
            if not self.runner.spawn(
                execution, lambda _: self._commands.put(("exited", (active, attempt)))
            ):
                self._commands.put(("exited", (active, attempt)))
            elif execution.cancelled:  # terminated while it was being spawned
                self._commands.put(("launched", active))
        except Exception as exc:
            self._launch_failed(active, exc)

    def _launch_failed(self, active: _Active, exc: Exception) -> None:
        logger.exception("task execution failed", extra={"run_id": active.job.run_id})
        active.error = exc
        self._commands.put(("exited", (active, active.attempt)))

    def _on_launched(self, active: _Active, _: _Batch | None) -> None:
        """An attempt is starting: stop it if the job was terminated meanwhile, arm its
        start report and its timeout."""
        execution = active.execution
        if execution is None or active.phase != _RUNNING:
            return
        if active.cancelled:  # terminated while a worker started it
            self._stop_attempt(active)
            return
        if not active.start_reported:
            self._at(START_REPORT_DELAY, "report_start", (active, execution.number))
        timeout = self.runner.timeout_of(active.job)
        if timeout:
            self._at(timeout, "timeout", (active, execution.number, timeout))

    def _on_report_start(self, payload: tuple[_Active, int], batch: _Batch) -> None:
        """Report the job's start once its attempt has run START_REPORT_DELAY seconds."""
        active, attempt = payload
        execution = active.execution
        if (
            active.start_reported
            or active.phase != _RUNNING
            or execution is None
            or execution.number != attempt
            or execution.process is None
            or execution.process.returncode is not None
        ):
            return  # ended meanwhile: its start is reported with its end
        active.start_reported = True
        interpreter = self._runs.get(active.job.run_id)
        if interpreter is not None and interpreter.run.generation == active.job.generation:
            detail = self.runner.start_detail(execution)
            batch.add(
                interpreter, interpreter.job_started(active.job.node_id, active.started, detail)
            )

    def _on_timeout(self, payload: tuple[_Active, int, float], _: _Batch) -> None:
        active, attempt, seconds = payload
        execution = active.execution
        if active.phase == _RUNNING and execution is not None and execution.number == attempt:
            self.runner.time_out(execution, seconds)
            self._at(self.runner.grace_period, "force_stop", (active, attempt))

    def _on_force_stop(self, payload: tuple[_Active, int], _: _Batch) -> None:
        active, attempt = payload
        execution = active.execution
        if active.phase == _RUNNING and execution is not None and execution.number == attempt:
            self.runner.force_stop(execution)

    def _on_exited(self, payload: tuple[_Active, int], batch: _Batch) -> None:
        """An attempt's process ended (or the attempt could not start)."""
        active, attempt = payload
        if active.phase != _RUNNING or active.attempt != attempt:
            return
        execution = active.execution
        if active.error is not None or execution is None:
            outcome = (
                self._error_outcome(active, active.error)
                if active.error is not None
                else self._cancelled(active)
            )
            self._end_job(active, outcome)
            return
        if self.runner.publishes_remotely(execution):
            active.phase = _ENDING
            self._pool.submit(self._end_attempt_in_worker, active)
            return
        self._on_attempt_ended((active, self.runner.attempt_ended(execution)), batch)

    def _end_attempt_in_worker(self, active: _Active) -> None:
        assert active.execution is not None
        result: JobOutcome | float
        try:
            result = self.runner.attempt_ended(active.execution)
        except Exception as exc:
            logger.exception(
                "task outputs could not be published", extra={"run_id": active.job.run_id}
            )
            result = self._error_outcome(active, exc)
        self._commands.put(("attempt_ended", (active, result)))

    def _on_attempt_ended(self, payload: tuple[_Active, JobOutcome | float], _: _Batch) -> None:
        active, result = payload
        if isinstance(result, JobOutcome):
            self._end_job(active, result)
            return
        if active.cancelled:
            self._end_job(active, self._cancelled(active))
            return
        active.phase = _BACKING_OFF
        self._at(result, "relaunch", active)

    def _on_relaunch(self, active: _Active, _: _Batch) -> None:
        if active.phase != _BACKING_OFF:
            return
        self._launch(active, spawn_here=False)
        self._on_launched(active, None)

    def _on_done(self, payload: tuple[_Active, JobOutcome], _: _Batch) -> None:
        """A worker found the job's outcome without running it (a cache hit, an error)."""
        active, outcome = payload
        if active.phase == _PREPARING:
            self._end_job(active, outcome)

    def _kill(self, generation: int, node_id: str) -> None:
        """Terminate a job: a queued or backing-off one ends now, a running one is asked to
        stop and killed after the grace period; a preparing one ends once prepared."""
        active = self._jobs.get((generation, node_id))
        if active is None or active.cancelled:
            return
        active.cancelled = True
        if active.phase in (_QUEUED, _BACKING_OFF):
            self._end_job(active, self._cancelled(active))
        elif active.phase == _RUNNING and active.execution is not None:
            self._stop_attempt(active)

    def _stop_attempt(self, active: _Active) -> None:
        assert active.execution is not None
        if self.runner.cancel(active.execution):
            self._at(self.runner.grace_period, "force_stop", (active, active.attempt))

    def _end_job(self, active: _Active, outcome: JobOutcome) -> None:
        """The job is over: free its slot, and record its outcome in this round."""
        if active.phase == _FINISHED:
            return
        was_in_slot = active.phase != _QUEUED
        active.phase = _FINISHED
        job = active.job
        if self._jobs.get((job.generation, job.node_id)) is active:
            del self._jobs[(job.generation, job.node_id)]
        if was_in_slot:
            self._in_slots -= 1
        self._metrics.task_done(outcome)
        # A short task's start was not reported on its own: it is, with its end.
        unreported_start = not active.start_reported and process_ran(outcome)
        self._finished.append(
            _Finished(job.run_id, job.generation, job.node_id, outcome, job, active.cache_key,
                      unreported_start)
        )  # fmt: skip
        self._fill_slots()

    def _internal_error(self, active: _Active, exc: BaseException) -> None:
        logger.exception("task execution failed", extra={"run_id": active.job.run_id})
        self._end_job(active, self._error_outcome(active, exc))

    def _cancelled(self, active: _Active) -> JobOutcome:
        """The outcome of a job terminated before or between its attempts' processes: its
        attempts so far if it had any; no start time if it never left the queue."""
        if active.execution is not None:
            return self.runner.outcome(active.execution, CANCELED, _TERMINATED)
        started = None if active.phase == _QUEUED else active.started
        return JobOutcome(
            state=CANCELED, error=_TERMINATED, start_time=started, end_time=self.clock()
        )

    def _error_outcome(self, active: _Active, exc: BaseException) -> JobOutcome:
        return JobOutcome(
            state=FAILED,
            error=f"internal error: {exc}",
            executor_detail=active.execution.detail if active.execution is not None else None,
            start_time=active.started,
            end_time=self.clock(),
        )


_TERMINATED = "the run was terminated"
#: Seconds between two collections of unused Python environments.
_HOUSEKEEPING_PERIOD = 6 * 3600.0

# The phases of a job in the engine.
_QUEUED, _PREPARING, _RUNNING, _BACKING_OFF, _ENDING, _FINISHED = range(6)


@dataclass(eq=False)
class _Active:
    """A job the engine was handed and has not finished."""

    job: Job
    started: datetime  # when it was handed over; when it left the queue, once it has
    phase: int = _QUEUED
    cache_key: str = ""
    execution: Execution | None = None
    attempt: int = 0  # the attempt whose end the engine waits for
    cancelled: bool = False
    start_reported: bool = False
    error: BaseException | None = None


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
# While several jobs are in flight, rounds start at most this often (seconds).
_ROUND_PERIOD = 0.005
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
            "Time the engine's control thread spent per phase of its rounds: handling commands"
            " and timers, recording finished jobs' lineage and applying their outcomes,"
            " writing transitions, acting on them (starting and stopping processes).",
            ["phase"],
            registry=registry,
        )
        self.rounds = Counter(
            "headrace_engine_rounds",
            "Rounds of the engine's control thread (each takes every command waiting).",
            registry=registry,
        )
        self._phases = [
            self.round_seconds.labels(phase=p) for p in ("commands", "finished", "write", "act")
        ]

    def round_phases(self, *marks: float) -> None:
        """Count a round's phases from the times that separate them."""
        self.rounds.inc()
        for counter, start, end in zip(self._phases, marks, marks[1:], strict=False):
            counter.inc(end - start)

    def task_done(self, outcome: JobOutcome) -> None:
        cached = bool((outcome.executor_detail or {}).get("cached"))
        self.tasks.labels(state=outcome.state, cached=str(cached).lower()).inc()
        if outcome.start_time and outcome.end_time:
            self.seconds.observe((outcome.end_time - outcome.start_time).total_seconds())
