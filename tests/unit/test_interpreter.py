"""The IR interpreter on compiled pipelines of our corpus, with jobs simulated in-process:
which tasks run, in what order, with which inputs, and how outputs flow back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from api_server.backends.base import RestoredTask, SubmittedRun, TaskStatusEvent
from api_server.backends.embedded.interpreter import (
    CANCELED,
    FAILED,
    SKIPPED,
    SUCCEEDED,
    Job,
    JobOutcome,
    RunInterpreter,
    Step,
    node_id,
)

COMPILED = Path(__file__).parents[1] / "pipelines" / "compiled"

Behaviour = Callable[[Job], JobOutcome]


def spec(name: str) -> dict[str, Any]:
    return dict(next(yaml.safe_load_all((COMPILED / f"{name}.yaml").read_text())))


def submitted(
    name: str, parameters: dict[str, Any] | None = None, generation: int = 0
) -> SubmittedRun:
    return SubmittedRun(
        run_id="run-1",
        generation=generation,
        experiment_id="exp",
        namespace="",
        display_name="my run",
        pipeline_spec=spec(name),
        platform_spec=None,
        parameters=parameters or {},
        pipeline_root=None,
        service_account="",
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def ok(**parameters: Any) -> JobOutcome:
    return JobOutcome(SUCCEEDED, {"parameters": parameters, "artifacts": {}})


class Driver:
    """Runs an interpreter to the end, answering each job with ``behaviour``."""

    def __init__(self, interpreter: RunInterpreter, behaviour: Behaviour) -> None:
        self.interpreter = interpreter
        self.behaviour = behaviour
        self.jobs: list[Job] = []
        self.events: list[TaskStatusEvent] = []
        self.steps: list[Step] = []
        self.max_concurrent = 0

    def record(self, step: Step) -> list[Job]:
        self.steps.append(step)
        self.events.extend(step.tasks)
        self.jobs.extend(step.jobs)
        return step.jobs

    def run(self) -> str:
        pending = list(self.record(self.interpreter.start()))
        while pending:
            self.max_concurrent = max(self.max_concurrent, len(self.interpreter.running_jobs))
            job = pending.pop(0)
            pending.extend(
                self.record(self.interpreter.job_finished(job.node_id, self.behaviour(job)))
            )
        assert self.interpreter.finished
        return self.final_state()

    def final_state(self) -> str:
        states = [s.run_state for s in self.steps if s.run_state]
        return states[-1]

    def ran(self) -> list[str]:
        return [job.task_name for job in self.jobs]

    def last_state(self, display_name: str) -> str:
        states = [e.state for e in self.events if e.display_name == display_name]
        assert states, f"no events for {display_name!r}"
        return states[-1]


def by_name(outputs: dict[str, Callable[[dict[str, Any]], Any]]) -> Behaviour:
    def behaviour(job: Job) -> JobOutcome:
        produce = outputs.get(job.task_name)
        if produce is None:
            return ok()
        return ok(Output=produce(job.parameters))

    return behaviour


def test_a_chain_passes_typed_values_downstream() -> None:
    driver = Driver(
        RunInterpreter(submitted("scalar_params", {"label": "abcdefgh"})),
        by_name(
            {
                "shape-values": lambda p: f"{p['label']}:{p['count']}",
                "measure": lambda p: len(p["text"]),
                "halve": lambda p: p["value"] / 2,
                "is-long": lambda p: p["length"] > 3,
            }
        ),
    )
    assert driver.run() == SUCCEEDED
    assert driver.ran() == ["shape-values", "measure", "halve", "is-long", "announce"]
    first = driver.jobs[0]
    # Defaults of the root are typed by their declaration: 4.0 becomes the integer 4.
    assert first.parameters["count"] == 4 and isinstance(first.parameters["count"], int)
    assert first.parameters["options"] == {"depth": 2.0, "mode": "fast"}
    assert driver.jobs[2].parameters == {"value": 10}
    assert driver.jobs[4].parameters["flag"] is True
    # Retry policies come from the task: shape-values 3 retries from 5 s, halve 1 at once.
    assert (first.retry.max_retries, first.retry.backoff_seconds) == (3, 5.0)
    assert first.retry.delay(2) == 10.0
    assert (driver.jobs[2].retry.max_retries, driver.jobs[2].retry.backoff_seconds) == (1, 0.0)


def test_unknown_and_missing_runtime_parameters_fail_the_run() -> None:
    interpreter = RunInterpreter(submitted("scalar_params", {"nope": 1}))
    step = interpreter.start()
    assert interpreter.finished
    assert step.run_state == FAILED
    assert step.run_error is not None and "unknown parameter 'nope'" in step.run_error["message"]
    assert step.jobs == []


def test_only_the_taken_branch_runs_and_one_of_picks_its_output() -> None:
    driver = Driver(
        RunInterpreter(submitted("branches", {"sides": 6, "threshold": 3})),
        by_name(
            {"roll": lambda p: 6, "say": lambda p: p["text"], "shout": lambda p: p["text"].upper()}
        ),
    )
    assert driver.run() == SUCCEEDED
    ran = driver.ran()
    assert "roll" in ran and "say" in ran  # high branch
    assert "say-2" in ran  # nested: rolled == sides
    assert "shout" not in ran and "say-3" not in ran  # elif and else skipped
    assert "say-4" in ran  # legacy condition rolled != 0
    assert driver.last_state("condition-4") == SKIPPED
    root = driver.interpreter.root
    assert root is not None
    assert root.outputs["parameters"] == {"Output": "high"}


def test_the_else_branch_when_nothing_else_holds() -> None:
    driver = Driver(
        RunInterpreter(submitted("branches", {"sides": 6, "threshold": 3})),
        by_name({"roll": lambda p: 1, "say-3": lambda p: p["text"]}),
    )
    assert driver.run() == SUCCEEDED
    assert "say-3" in driver.ran() and "say" not in driver.ran()
    assert driver.interpreter.root is not None
    assert driver.interpreter.root.outputs["parameters"] == {"Output": "low"}


def test_loops_fan_out_respect_parallelism_and_collect() -> None:
    def behaviour(job: Job) -> JobOutcome:
        p = job.parameters
        if job.task_name in ("square", "square-2"):
            return ok(Output=p["x"] * p["x"])
        if job.task_name == "pair":
            return ok(Output=f"{p['a']}:{p['b']}")
        if job.task_name == "join-two":
            return ok(Output=p["a"] + p["b"])
        if job.task_name == "list-names":
            return ok(Output=[f"{p['prefix']}{i}" for i in range(3)])
        if job.task_name == "total":
            return ok(Output=sum(p["values"]))
        if job.task_name == "write-shard":
            uri = f"/tmp/{p['name']}"
            artifact = {"name": "shard", "uri": uri, "type": {"schemaTitle": "system.Dataset"}}
            return JobOutcome(SUCCEEDED, {"parameters": {}, "artifacts": {"shard": [artifact]}})
        if job.task_name == "merge-shards":
            return ok(Output=",".join(a["uri"] for a in job.artifacts["shards"]))
        raise AssertionError(job.task_name)

    driver = Driver(RunInterpreter(submitted("loops")), behaviour)
    assert driver.run() == SUCCEEDED
    ran = driver.ran()
    assert ran.count("square") == 3
    assert sorted(j.parameters["x"] for j in driver.jobs if j.task_name == "square") == [2, 4, 6]
    assert ran.count("square-2") == 3 and ran.count("pair") == 6
    joined = sorted(
        j.parameters["a"] + j.parameters["b"] for j in driver.jobs if j.task_name == "join-two"
    )
    assert joined == ["u1", "v2"]
    total = next(j for j in driver.jobs if j.task_name == "total")
    assert total.parameters["values"] == [1, 4, 9]
    merge = next(j for j in driver.jobs if j.task_name == "merge-shards")
    assert [a["uri"] for a in merge.artifacts["shards"]] == ["/tmp/n0", "/tmp/n1", "/tmp/n2"]
    assert driver.interpreter.root is not None
    assert driver.interpreter.root.outputs["parameters"] == {"Output": 14}


def test_loop_parallelism_limit_holds_iterations_back() -> None:
    interpreter = RunInterpreter(submitted("loops", {"numbers": [1, 2, 3, 4, 5]}))
    step = interpreter.start()
    loop_id = node_id("run-1", "root/for-loop-3")
    active = [n for n in interpreter.nodes.values() if n.parent and n.parent.node_id == loop_id]
    assert len(active) == 2  # parallelismLimit 2
    assert step.run_state == "RUNNING"


def test_exit_handler_and_ignore_upstream_failure_on_failure() -> None:
    def behaviour(job: Job) -> JobOutcome:
        if job.task_name == "risky":
            return JobOutcome(FAILED, error="RuntimeError: asked to fail")
        return ok()

    driver = Driver(RunInterpreter(submitted("exit_handling", {"fail": True})), behaviour)
    assert driver.run() == FAILED
    ran = driver.ran()
    assert "risky-2" not in ran
    assert driver.last_state("risky-2") == SKIPPED
    tidy = next(j for j in driver.jobs if j.task_name == "tidy")
    assert tidy.parameters == {"result": "missing"}  # producer failed: the default
    cleanup = next(j for j in driver.jobs if j.task_name == "cleanup")
    status = cleanup.parameters["status"]
    assert status["state"] == FAILED
    assert "asked to fail" in status["error"]["message"]
    assert cleanup.parameters["note"] == "exit"
    error = [s.run_error for s in driver.steps if s.run_error][-1]
    assert error is not None and "asked to fail" in error["message"]


def test_exit_handler_on_success() -> None:
    driver = Driver(
        RunInterpreter(submitted("exit_handling")), by_name({"risky": lambda p: "fine"})
    )
    assert driver.run() == SUCCEEDED
    cleanup = next(j for j in driver.jobs if j.task_name == "cleanup")
    status = cleanup.parameters["status"]
    # As KFP's backend gives it: ML-Metadata's state name, the group's task key, and the
    # run's resource name (the pipeline's name and a suffix of the run id).
    assert status["state"] == "COMPLETE"
    assert status["pipelineTaskName"] == "exit-handler-1"
    assert status["pipelineJobResourceName"] == "exit-handling-run1"
    tidy = next(j for j in driver.jobs if j.task_name == "tidy")
    assert tidy.parameters == {"result": "fine"}


def test_cancel_kills_running_jobs_and_still_runs_the_exit_task() -> None:
    interpreter = RunInterpreter(submitted("exit_handling"))
    step = interpreter.start()
    assert [j.task_name for j in step.jobs] == ["risky"]
    risky = step.jobs[0]
    cancel = interpreter.cancel()
    assert cancel.kill == [risky.node_id]
    after = interpreter.job_finished(risky.node_id, JobOutcome(CANCELED, error="terminated"))
    assert [j.task_name for j in after.jobs] == ["cleanup"]
    assert after.jobs[0].parameters["status"]["state"] == CANCELED
    done = interpreter.job_finished(after.jobs[0].node_id, ok())
    assert interpreter.finished
    assert done.run_state == CANCELED


def test_restored_successes_are_not_run_again() -> None:
    first = Driver(
        RunInterpreter(submitted("scalar_params")),
        by_name({"shape-values": lambda p: "abcdef", "measure": lambda p: 6}),
    )
    # Run up to the first two tasks, then "crash".
    interpreter = first.interpreter
    step = interpreter.start()
    shape = step.jobs[0]
    step2 = interpreter.job_finished(shape.node_id, ok(Output="abcdef"))
    measure = step2.jobs[0]
    interpreter.job_finished(measure.node_id, ok(Output=6))
    restored = {
        shape.node_id: RestoredTask(SUCCEEDED, {"parameters": {"Output": "abcdef"}}, {}),
        measure.node_id: RestoredTask(SUCCEEDED, {"parameters": {"Output": 6}}, {}),
    }
    resumed = Driver(
        RunInterpreter(submitted("scalar_params", generation=1), restored=restored),
        by_name({"halve": lambda p: p["value"] / 2, "is-long": lambda p: True}),
    )
    assert resumed.run() == SUCCEEDED
    assert resumed.ran() == ["halve", "is-long", "announce"]
    assert resumed.jobs[0].parameters == {"value": 6}


def test_run_level_parallelism_queues_jobs() -> None:
    driver = Driver(
        RunInterpreter(submitted("loops", {"numbers": [1, 2, 3, 4]}), max_parallel=1),
        lambda job: ok(Output=[1] if job.task_name == "list-names" else 1),
    )
    assert driver.run() == SUCCEEDED
    assert driver.max_concurrent == 1


@pytest.mark.parametrize("name", sorted(p.stem for p in COMPILED.glob("*.yaml")))
def test_every_corpus_pipeline_runs_to_the_end(name: str) -> None:
    def behaviour(job: Job) -> JobOutcome:
        outputs: dict[str, Any] = {}
        for key, kind in job.output_parameters.items():
            outputs[key] = {
                "NUMBER_INTEGER": 1,
                "NUMBER_DOUBLE": 1.5,
                "BOOLEAN": True,
                "LIST": [1],
                "STRUCT": {"a": 1},
            }.get(kind, "text")
        artifacts = {
            key: [
                {
                    "name": key,
                    "uri": f"/tmp/{job.node_id}/{key}",
                    "type": spec_["type"],
                    "metadata": {},
                }
            ]
            for key, spec_ in job.output_artifacts.items()
        }
        return JobOutcome(SUCCEEDED, {"parameters": outputs, "artifacts": artifacts})

    driver = Driver(RunInterpreter(submitted(name)), behaviour)
    state = driver.run()
    assert state == SUCCEEDED, [s.run_error for s in driver.steps if s.run_error]
    ids = [e.task_id for e in driver.events]
    assert all(i == node_id("run-1", driver.interpreter.nodes[i].path) for i in ids)
