"""Running executor jobs: cache look-up, each attempt's scratch folder, executor input and
command, its process, reading its outputs back and publishing its artifacts, retries and
timeouts; then, for the jobs that finished together, recording lineage and storing cache
entries (:meth:`JobRunner.finish`).

Nothing here blocks on a running task: an :class:`Execution` holds a job's attempts and the
engine drives it (``prepare_attempt``, ``spawn``, ``attempt_ended``, ``cancel``) from its
control thread, on timers and on the ends the launcher reports. The process itself is
started through a :class:`Launcher`, so another way of starting processes can replace the
plain one without touching anything here.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import signal
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, Protocol

from domain.task_logs import RunLog, TaskOutput

from . import spawn
from .artifact_store import ArtifactStore
from .environments import Environments
from .executor_input import ExecutorOutputError, build_executor_input, read_executor_output
from .interpreter import CANCELED, FAILED, SUCCEEDED, Job, JobOutcome
from .launcher import DEFAULT_GRACE_PERIOD, Launcher, LaunchError, TaskProcess
from .placeholders import PlaceholderError, resolve_command

logger = logging.getLogger(__name__)

# Each run's folder holds its tasks' log (one file, see domain.task_logs), a list of the
# task processes it started (for reap_orphans), and the attempts' scratch folders; with a
# local pipeline root, also the tasks' outputs, in folders named after the tasks. Task names
# never hold a dot, so names with one cannot meet them.
_RUN_LOG = "tasks.log"
_PIDS = "tasks.pids"
_SCRATCH = "scratch."
_STAGING = ".staging"
_OLD_PID_FILE = "task.pid"  # one per task, written by servers before the list above
# A task still running after this many seconds has its start reported at once; a shorter
# one has it reported with its end, in the same status write.
START_REPORT_DELAY = 0.05
# A failed task's error message is the last line of its log (a Python component's
# exception), cut to this length.
_ERROR_MAX_CHARS = 1000


class TaskCache(Protocol):
    """What the engine needs of the cache (``cache_webhook`` provides it)."""

    def key(self, job: Job) -> str:
        """The job's cache key (its ``cache_key`` override, if any, decides it)."""
        ...

    def lookup(self, key: str) -> Mapping[str, Any] | None:
        """The stored outputs and origin of a previous execution with this key."""
        ...

    def store(
        self, key: str, job: Job, outputs: Mapping[str, Any], *, execution_id: str | None
    ) -> None: ...


class LineageSink(Protocol):
    """Where executions and artifacts are recorded (the metadata store provides it)."""

    def record_many(
        self, finished: Sequence[tuple[Job, JobOutcome]]
    ) -> Sequence[Mapping[str, Any] | Exception | None]:
        """Record the tasks (in one transaction where it can); per task, in order, the ids
        to keep in its details (execution_id, ...), or the error that kept it unrecorded."""
        ...


@dataclass(frozen=True)
class RunnerConfig:
    work_dir: Path
    task_timeout_seconds: float | None = None


class JobRunner:
    def __init__(
        self,
        config: RunnerConfig,
        *,
        launcher: Launcher,
        environments: Environments,
        artifacts: ArtifactStore,
        default_pipeline_root: str,
        cache: TaskCache | None = None,
        lineage: LineageSink | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.launcher = launcher
        self.environments = environments
        self.artifacts = artifacts
        self.default_pipeline_root = default_pipeline_root
        self.cache = cache
        self.lineage = lineage
        self.clock = clock
        self._lock = threading.Lock()
        self._running: dict[int, Execution] = {}  # executions with a process, by id()
        self._runs: dict[str, _RunFiles] = {}

    def reap_orphans(self, run_id: str) -> None:
        """Kill task processes a crashed server left running for this run. The run's pid
        list names them, each with its start time: a pid counts only if its process started
        then, so a reused pid is left alone, and a task that cleared its environment is
        still found. Lines with a pid alone (older servers) count if the process has the
        run's id in its environment (HEADRACE_RUN_ID); older servers' per-task pid files
        hold a start time too."""
        run_dir = self.config.work_dir / run_id
        candidates: list[int] = []
        with contextlib.suppress(OSError):
            for line in (run_dir / _PIDS).read_text().splitlines():
                candidates += _listed_process(line.split(), run_id)
        for pid_file in run_dir.rglob(_OLD_PID_FILE):
            with contextlib.suppress(OSError):
                candidates += _listed_process(pid_file.read_text().split(), run_id)
            pid_file.unlink(missing_ok=True)
        for pid in candidates:
            if pid > 1:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pid, signal.SIGKILL)
                    logger.info(
                        "killed a task process left by a previous server",
                        extra={"pid": pid, "run_id": run_id},
                    )
        self.close_run(run_id)

    def close_run(self, run_id: str) -> None:
        """The run has ended here (or is about to start afresh): close its log and forget
        its pid list."""
        with self._lock:
            files = self._runs.pop(run_id, None)
        if files is not None:
            files.close()
        with contextlib.suppress(OSError):
            (self.config.work_dir / run_id / _PIDS).unlink(missing_ok=True)

    def remove_scratch(self, run_id: str) -> None:
        """Remove a finished run's scratch folders and its downloads of remote inputs; its
        outputs and its log stay. The engine calls it once the run has succeeded (a failed
        or cancelled run keeps them, to look into, until a retry succeeds)."""
        self._remove_run_files(run_id, with_log=False)

    def forget_run(self, run_id: str) -> bool:
        """The run was deleted and has stopped here: remove its log, pid list, scratch
        folders and downloads; its outputs (under a local pipeline root, in the same
        folder) stay. The folder goes too if nothing else is left in it. True if there
        was anything to remove."""
        self.close_run(run_id)
        removed = self._remove_run_files(run_id, with_log=True)
        with contextlib.suppress(OSError):
            (self.config.work_dir / run_id).rmdir()  # only if empty
            removed = True
        return removed

    def run_folders(self) -> list[str]:
        """The runs that have a folder here (folders named like a run id)."""
        try:
            entries = list(os.scandir(self.config.work_dir))
        except OSError:
            return []
        return sorted(
            e.name for e in entries if _RUN_ID.fullmatch(e.name) and e.is_dir(follow_symlinks=False)
        )

    def _remove_run_files(self, run_id: str, *, with_log: bool) -> bool:
        try:
            entries = list(os.scandir(self.config.work_dir / run_id))
        except OSError:
            return False
        removed = False
        for entry in entries:
            name = entry.name
            if (name.startswith(_SCRATCH) or name.endswith(_STAGING)) and entry.is_dir(
                follow_symlinks=False
            ):
                shutil.rmtree(entry.path, ignore_errors=True)
                removed = True
            elif with_log and name in (_RUN_LOG, _PIDS) and entry.is_file(follow_symlinks=False):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed = True
        return removed

    # --- one job ------------------------------------------------------------------------

    def cache_key(self, job: Job) -> str:
        """The job's cache key, or "" when caching is off for it (computed once per job:
        ``cached`` and ``run`` take it)."""
        return self.cache.key(job) if self.cache is not None and job.caching else ""

    def cached(self, job: Job, key: str, *, started: datetime) -> JobOutcome | None:
        """The job's outcome from the cache, or None when it must run. A hit never starts
        a process, so the engine reports it without a RUNNING state. Its lineage is
        recorded by :meth:`finish`."""
        if self.cache is None or not key:
            return None
        hit = self.cache.lookup(key)
        if hit is None:
            return None
        detail = {"cached": True, "cache_key": key, "cached_from": hit.get("origin")}
        outcome = JobOutcome(
            state=SUCCEEDED,
            outputs=hit.get("outputs") or {},
            executor_detail=detail,
            start_time=started,
            end_time=self.clock(),
        )
        return outcome

    def publishes_remotely(self, execution: Execution) -> bool:
        """The job's outputs go to an object store: ending an attempt uploads them."""
        return bool(execution.job.output_artifacts) and self.artifacts.is_remote(execution.root_uri)

    def open(self, job: Job, key: str, *, started: datetime) -> Execution:
        """A job about to run its first attempt (after a cache miss); ``key`` is its cache
        key ("" when not cached), under which :meth:`finish` stores a success."""
        files = self._run_files(job.run_id)
        detail: dict[str, Any] = {"attempts": []}
        if key:
            detail["cache_key"] = key
        detail["log"] = str(files.log.path)
        detail["log_stream"] = job.node_id
        root = job.context.pipeline_root or self.default_pipeline_root
        return Execution(job=job, started=started, root_uri=root, files=files, detail=detail)

    def needs_worker(self, job: Job, key: str) -> bool:
        """Starting the job may block (a cache look-up, an environment to build, remote
        inputs to download): a worker thread should start it, not the control thread."""
        if key or not self.environments.is_ready(job.container):
            return True
        try:
            return any(
                self.artifacts.is_remote(str(artifact.get("uri", "")))
                for items in job.artifacts.values()
                for artifact in items
            )
        except Exception:  # a bad uri: the worker fails the task with the reason
            return True

    def prepare_attempt(self, execution: Execution) -> bool:
        """Everything the execution's next attempt needs before its process starts: its
        scratch folder, executor input, command and environment (see :meth:`spawn`). False
        if it cannot start: it has failed already, see :meth:`attempt_ended`."""
        job = execution.job
        execution.number += 1
        number = execution.number
        record: dict[str, Any] = {
            "attempt": number,
            "job": f"{job.node_id}-{number}",
            "start_time": _iso(self.clock()),
        }
        execution.attempts.append(record)
        execution.record = record
        execution.process = None
        execution.failure = None
        execution.timed_out = None
        detail = execution.detail
        # KFP's PipelineTaskExecutorDetail names: the current job, and those that failed.
        detail["main_job"] = record["job"]
        detail["failed_main_jobs"] = [a["job"] for a in execution.attempts if a.get("error")]
        execution.output = execution.files.log.output(job.node_id)
        try:
            work = execution.work = execution.files.take_scratch()
            record["scratch"] = work.name
            execution.command = self._command(job, execution.root_uri, work, number)
        except (PlaceholderError, ExecutorOutputError, OSError, ValueError) as exc:
            self._not_started(execution, exc)
            return False
        return True

    def spawn(self, execution: Execution, on_end: Callable[[Execution], None]) -> bool:
        """Start the prepared attempt's process; ``on_end(execution)`` is called (from the
        launcher's watcher thread) once it has ended. False if it could not start."""
        command = execution.command
        assert command is not None and execution.output is not None and execution.work
        header = f"--- attempt {execution.number} at {_iso(self.clock())} ---\n".encode()
        try:
            # The pid list is kept in the run's folder, not in the database: after a crash,
            # the next server kills what is still running (see reap_orphans).
            process = self.launcher.start(
                command.argv,
                env=command.env,
                cwd=execution.work,
                output=execution.output,
                preamble=header,
                pid_list=execution.files.pids_path,
            )
        except LaunchError as exc:
            self._not_started(execution, exc)
            return False
        execution.process = process
        with self._lock:
            self._running[id(execution)] = execution
        process.on_end(lambda _: on_end(execution))
        return True

    def _not_started(self, execution: Execution, exc: Exception | str) -> None:
        assert execution.record is not None
        execution.record.update(end_time=_iso(self.clock()), error=str(exc))
        execution.failure = f"could not start the task: {exc}"

    def start_detail(self, execution: Execution) -> dict[str, Any]:
        """What a running attempt adds to the task's details when its start is reported."""
        return {
            "log": execution.detail["log"],
            "log_stream": execution.job.node_id,
            "main_job": execution.detail["main_job"],
        }

    def time_out(self, execution: Execution, seconds: float) -> None:
        """The attempt ran out of time: stop it; it ends FAILED."""
        if execution.process is not None and execution.process.returncode is None:
            execution.timed_out = seconds
            execution.process.terminate()

    def attempt_ended(self, execution: Execution) -> JobOutcome | float:
        """After an attempt's process ended (or failed to start): the job's outcome, or the
        seconds to wait before its next attempt (the retry policy says there is one)."""
        job = execution.job
        with self._lock:
            self._running.pop(id(execution), None)
        state, error, outputs = self._attempt_result(execution)
        retries_left = execution.number < job.retry.max_retries + 1
        if state == FAILED and not execution.cancelled and retries_left:
            return job.retry.delay(execution.number)
        return self.outcome(execution, state, error, outputs)

    def outcome(
        self,
        execution: Execution,
        state: str,
        error: str | None = None,
        outputs: dict[str, Any] | None = None,
    ) -> JobOutcome:
        """The job's outcome, its attempts included."""
        detail = execution.detail
        detail["failed_main_jobs"] = [a["job"] for a in execution.attempts if a.get("error")]
        return JobOutcome(
            state=state,
            outputs=outputs or {},
            error=error,
            executor_detail=detail,
            start_time=execution.started,
            end_time=self.clock(),
        )

    def cancel(self, execution: Execution) -> bool:
        """Terminate the job: its process is asked to stop (and killed after the grace
        period, see :meth:`force_stop`). False when no process is running (the job ends at
        once, CANCELED)."""
        execution.cancelled = True
        process = execution.process
        if process is not None and process.returncode is None:
            process.terminate()
            return True
        return False

    def force_stop(self, execution: Execution) -> None:
        """The grace period after :meth:`cancel` or a timeout is over: kill what is left."""
        if execution.process is not None:
            execution.process.force_kill()

    def kill_all(self) -> None:
        """Stop every running process and wait for them (the server is stopping)."""
        with self._lock:
            running = list(self._running.values())
        for execution in running:
            execution.cancelled = True
            if execution.process is not None:
                execution.process.kill()

    def close(self) -> None:
        """Nothing runs any more (see :meth:`kill_all`): let the launcher's helpers go."""
        self.launcher.close()

    def finish(self, finished: Sequence[tuple[Job, str, JobOutcome]]) -> list[JobOutcome]:
        """Record the lineage of jobs that ended (``(job, cache key, outcome)``: one batch,
        so one transaction however many), then store the successes that ran under their
        cache key. Returns the outcomes with their lineage ids. The engine calls this
        before it reports the outcomes, so a reported task's lineage is stored."""
        outcomes = [outcome for _, _, outcome in finished]
        if self.lineage is not None and finished:
            recorded: Sequence[Mapping[str, Any] | Exception | None]
            try:
                recorded = self.lineage.record_many([(job, o) for job, _, o in finished])
            except Exception as exc:  # lineage is a record, not a condition of success
                recorded = [exc] * len(finished)
            for position, ((job, _, outcome), ids) in enumerate(
                zip(finished, recorded, strict=True)
            ):
                if isinstance(ids, Exception):
                    logger.error(
                        "lineage recording failed",
                        exc_info=ids,
                        extra={"run_id": job.run_id, "task_id": job.node_id},
                    )
                elif ids:
                    outcomes[position] = _with_lineage_ids(outcome, ids)
        if self.cache is not None:
            for (job, key, _), outcome in zip(finished, outcomes, strict=True):
                detail = outcome.executor_detail or {}
                if outcome.state != SUCCEEDED or not key or detail.get("cached"):
                    continue
                # After lineage: a later hit can then name the execution it reuses.
                execution_id = detail.get("execution_id")
                try:
                    self.cache.store(
                        key,
                        job,
                        outcome.outputs,
                        execution_id=str(execution_id) if execution_id is not None else None,
                    )
                except Exception:  # a cache write failing must not fail the task
                    logger.exception("cache write failed", extra={"run_id": job.run_id})
        return outcomes

    def _attempt_result(self, execution: Execution) -> tuple[str, str | None, dict[str, Any]]:
        """The state, error and outputs of the attempt that just ended."""
        record = execution.record
        assert record is not None
        process = execution.process
        if process is not None and process.launch_error is not None:
            self._not_started(execution, process.launch_error)
        if execution.failure is not None:  # it never started
            return (CANCELED, "the run was terminated", {}) if execution.cancelled else (
                FAILED, execution.failure, {})  # fmt: skip
        assert process is not None and execution.output is not None
        code = process.returncode
        record.update(pid=process.pid, end_time=_iso(self.clock()), exit_code=code)
        if execution.timed_out is not None and not execution.cancelled:
            seconds = execution.timed_out
            record["error"] = f"timed out after {seconds:g}s"
            return FAILED, f"the task timed out after {seconds:g} seconds", {}
        if execution.cancelled:
            return CANCELED, "the run was terminated", {}
        if code != 0:
            tail = failure_line(execution.output.tail)
            message = (
                f"{tail} (exit code {code})" if tail else f"the process exited with code {code}"
            )
            record["error"] = message
            return FAILED, message, {}
        work = execution.work
        assert work is not None and execution.command is not None
        job = execution.job
        try:
            produced = read_executor_output(
                execution.command.executor_input, work, component=job.component
            )
            artifacts = self.artifacts.publish_outputs(
                {name: list(items) for name, items in produced.artifacts.items()},
                _staging(execution.files.dir, job),
            )
        except (ExecutorOutputError, OSError) as exc:
            record["error"] = str(exc)
            return FAILED, str(exc), {}
        execution.files.give_back_if_empty(work)
        return SUCCEEDED, None, {"parameters": produced.parameters, "artifacts": artifacts}

    def _command(self, job: Job, root: str, work: Path, number: int) -> _Command:
        staging = _staging(work.parent, job)
        inputs = self.artifacts.stage_inputs(job.artifacts, staging)
        outputs: dict[str, dict[str, Any]] = {}
        for name, spec in job.output_artifacts.items():
            uri = self.artifacts.output_uri(root, job.run_id, _task_path(job), name)
            local = self.artifacts.prepare_output(uri, staging)
            outputs[name] = {"uri": str(local), "type": spec["type"]}
        executor_input = build_executor_input(
            parameters=job.parameters,
            input_artifacts=inputs,
            output_parameters=job.output_parameters,
            output_artifacts=outputs,
            output_file=str(work / "executor_output.json"),
            work_dir=work,
        )
        prepared = self.environments.prepare(dict(job.container))
        argv = resolve_command(
            prepared.container_for(dict(job.container)),
            executor_input,
            dict(job.component),
            pipeline=job.context,
        )
        env = dict(prepared.env)
        for variable in job.container.get("env") or []:
            if isinstance(variable, Mapping) and variable.get("name"):
                env[str(variable["name"])] = str(variable.get("value", ""))
        env.update(
            {
                # Scratch files (kfp's program writes one folder per task) stay with the task.
                "TMPDIR": str(work),
                # Python tasks write their output as it comes, so a running task's log shows it.
                "PYTHONUNBUFFERED": "1",
                "HEADRACE_RUN_ID": job.run_id,
                "HEADRACE_TASK_ID": job.node_id,
                "HEADRACE_TASK_ATTEMPT": str(number),
            }
        )
        return _Command(argv, env, executor_input)

    @property
    def grace_period(self) -> float:
        """Seconds between asking a task to stop and killing it."""
        return float(getattr(self.launcher, "grace_period", DEFAULT_GRACE_PERIOD))

    def timeout_of(self, job: Job) -> float | None:
        """The job's attempt timeout: its platform's ``activeDeadlineSeconds``, else the
        configured default."""
        deadline = job.platform.get("activeDeadlineSeconds")
        if deadline not in (None, "", 0, "0"):
            return float(deadline)
        return self.config.task_timeout_seconds

    def _run_files(self, run_id: str) -> _RunFiles:
        with self._lock:
            files = self._runs.get(run_id)
            if files is None:
                files = self._runs[run_id] = _RunFiles(self.config.work_dir / run_id)
        return files


class _Command(NamedTuple):
    """What an attempt's process runs."""

    argv: list[str]
    env: dict[str, str]
    executor_input: dict[str, Any]


@dataclass(eq=False)
class Execution:
    """One job's attempts: the engine drives it (launch, end of an attempt, retry, cancel)
    without a thread blocked on it."""

    job: Job
    started: datetime
    root_uri: str
    files: _RunFiles
    detail: dict[str, Any]
    number: int = 0  # the current attempt
    record: dict[str, Any] | None = None  # the current attempt's entry in detail["attempts"]
    process: TaskProcess | None = None
    output: TaskOutput | None = None
    work: Path | None = None
    command: _Command | None = None
    failure: str | None = None  # the current attempt could not start
    timed_out: float | None = None
    cancelled: bool = False

    @property
    def attempts(self) -> list[dict[str, Any]]:
        attempts: list[dict[str, Any]] = self.detail["attempts"]
        return attempts


def process_ran(outcome: JobOutcome) -> bool:
    """Some attempt of the job started a process (a cache hit, or a task that could not be
    started, did not)."""
    attempts = (outcome.executor_detail or {}).get("attempts") or ()
    return any("pid" in attempt for attempt in attempts)


def _with_lineage_ids(outcome: JobOutcome, ids: Mapping[str, Any]) -> JobOutcome:
    """The outcome with its lineage ids in its executor detail and output artifacts."""
    detail = dict(outcome.executor_detail or {})
    detail.update(ids)
    # Each output artifact names its lineage id, so task details lead to it.
    outputs = dict(outcome.outputs)
    by_name = ids.get("artifact_ids")
    if isinstance(by_name, Mapping) and outputs.get("artifacts"):
        outputs["artifacts"] = {
            name: [
                {**artifact, "artifact_id": artifact_id}
                for artifact, artifact_id in zip(items, by_name.get(name) or [], strict=False)
            ]
            + list(items[len(by_name.get(name) or []) :])
            for name, items in outputs["artifacts"].items()
        }
    return replace(outcome, outputs=outputs, executor_detail=detail)


class _RunFiles:
    """A run's folder, with its tasks' log, the list of task processes it started and the
    attempts' scratch folders."""

    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self.dir = path
        self.log = RunLog(path / _RUN_LOG)
        self.pids_path = path / _PIDS
        self._lock = threading.Lock()
        self._scratch_names = itertools.count(1)
        self._free_scratch: list[Path] = []

    def take_scratch(self) -> Path:
        """An empty folder for an attempt (its working directory and TMPDIR): one a
        succeeded attempt left empty, else a new one. Creating a folder costs 0.2 ms of
        system time here, so a fan-out of short tasks reuses them."""
        with self._lock:
            if self._free_scratch:
                return self._free_scratch.pop()
            path = self.dir / f"{_SCRATCH}{next(self._scratch_names)}"
        try:
            os.mkdir(path)
        except FileExistsError:  # left by a server that stopped: start afresh
            shutil.rmtree(path)
            os.mkdir(path)
        return path

    def give_back_if_empty(self, path: Path) -> None:
        """A succeeded attempt's folder is reused if it left nothing there; a folder with
        files in it is kept as it is (its name is in the attempt's details)."""
        try:
            with os.scandir(path) as entries:
                if next(entries, None) is not None:
                    return
        except OSError:
            return
        with self._lock:
            self._free_scratch.append(path)

    def close(self) -> None:
        self.log.close()


def _staging(run_dir: Path, job: Job) -> Path:
    """Where remote artifacts of a task live locally: in its run's folder, shared by its
    attempts."""
    return run_dir / f"{_flat_task_path(job)}{_STAGING}"


def _flat_task_path(job: Job) -> str:
    """The task's path in one folder name (``for-loop-2.iteration-3.train``)."""
    return _task_path(job).replace("/", ".")


def _task_path(job: Job) -> str:
    return job.path.removeprefix("root/")


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def failure_line(text: str) -> str:
    """What a failed task's output says about the failure: a Python component's exception
    (the last ``SomethingError: ...`` line), else the last line if it says anything (a lone
    ``}`` closing the executor's input dump does not); "" when nothing fits."""
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.startswith("--- attempt")
    ]
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line):
            return line[-_ERROR_MAX_CHARS:]
    if lines and sum(c.isalnum() for c in lines[-1]) >= 3:
        return lines[-1][-_ERROR_MAX_CHARS:]
    return ""


# "ValueError: ...", "kfp.SomeError", "KeyboardInterrupt": how Python ends a traceback.
# A run id (a UUID), as the name of a run's folder.
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Exit|Interrupt)\b(:.*)?$")


def _listed_process(fields: list[str], run_id: str) -> list[int]:
    """The pid on a pid list's line (``<pid> <start time>``, or ``<pid>`` alone), if that
    process still runs and is the one listed; else nothing."""
    if not fields or not all(field.isdigit() for field in fields) or len(fields) > 2:
        return []
    pid = int(fields[0])
    if len(fields) == 2:
        return [pid] if spawn.process_start(pid) == int(fields[1]) else []
    return [pid] if _runs_for(pid, run_id) else []


def _runs_for(pid: int, run_id: str) -> bool:
    """The process ``pid`` exists and was started for the run ``run_id``."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as fh:
            environment = fh.read().split(b"\0")
    except OSError:
        return False
    return f"HEADRACE_RUN_ID={run_id}".encode() in environment
