"""The IR interpreter: one run's pipeline spec as a state machine over nodes.

It is pure: no threads, processes, files or database. The engine feeds it events (start,
a job finished, cancel) and carries out what each returned :class:`Step` asks for: report
these task transitions, start these jobs, kill these jobs. Because every node's id derives
from the run id and the node's path in the spec, a run can be rebuilt after a crash or a
retry from the tasks it reported: an executor node that already succeeded is restored with
its outputs instead of being run again, and everything else is worked out anew.

Nodes
-----
``dag``        the root, a sub-pipeline, a condition or an exit-handler group: a scope
               whose tasks run as their dependencies allow
``loop``       a ParallelFor task: one ``iteration`` per item, at most ``parallelismLimit``
               active at a time; its outputs are the iterations' outputs collected in order
``iteration``  one item of a loop: a scope like ``dag``
``executor``   a container (or Python) component: becomes a :class:`Job` for the engine
``importer``   an importer node: resolved here, no process

Semantics follow KFP: a task runs when all its ``dependentTasks`` ended; with the default
trigger strategy it is skipped if one of them failed, with ``ALL_UPSTREAM_TASKS_COMPLETED``
(exit handlers, ``ignore_upstream_failure``) it runs anyway and inputs whose producer gave no
value fall back to the component's defaults. A false ``triggerPolicy.condition`` skips a
task. A scope fails if any of its tasks failed. Terminating a run kills its running jobs,
cancels what has not started, and still runs exit-handler tasks.
"""

from __future__ import annotations

import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from api_server.backends.base import RestoredTask, SubmittedRun, TaskStatusEvent

from .conditions import ConditionError, evaluate_condition
from .placeholders import PipelineContext
from .values import (
    InputValueError,
    apply_selector,
    coerce,
    defaults_of,
    expand_context,
    loop_items,
)

PENDING, RUNNING, SUCCEEDED, SKIPPED, FAILED, CANCELED = (
    "PENDING",
    "RUNNING",
    "SUCCEEDED",
    "SKIPPED",
    "FAILED",
    "CANCELED",
)
TERMINAL = frozenset({SUCCEEDED, SKIPPED, FAILED, CANCELED})
COMPLETED_STRATEGY = "ALL_UPSTREAM_TASKS_COMPLETED"
# google.rpc.Code values used in task and run errors.
CODE_UNKNOWN, CODE_INVALID_ARGUMENT, CODE_CANCELLED, CODE_DEADLINE_EXCEEDED = 2, 3, 1, 4

_NODE_NAMESPACE = uuid.UUID("5f0c1c52-6a54-4a8e-9d6c-3f7f3d1e8b21")


def node_id(run_id: str, path: str) -> str:
    """The stable task id of the node at ``path`` in run ``run_id``."""
    return str(uuid.uuid5(_NODE_NAMESPACE, f"{run_id}:{path}"))


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 0
    backoff_seconds: float = 0.0
    backoff_factor: float = 2.0
    backoff_max_seconds: float = 3600.0

    def delay(self, retry_number: int) -> float:
        """Seconds to wait before retry ``retry_number`` (1-based)."""
        delay = self.backoff_seconds * (self.backoff_factor ** (retry_number - 1))
        return float(min(delay, self.backoff_max_seconds))


@dataclass(frozen=True)
class Job:
    """One executor node for the engine to run (cache look-up, process, outputs)."""

    run_id: str
    generation: int
    node_id: str
    path: str
    pipeline_name: str
    task_name: str
    display_name: str
    component: Mapping[str, Any]
    container: Mapping[str, Any]
    platform: Mapping[str, Any]
    parameters: dict[str, Any]
    artifacts: dict[str, list[dict[str, Any]]]
    output_parameters: dict[str, str]  # name -> parameterType
    output_artifacts: dict[str, dict[str, Any]]  # name -> {"type": {...}, "list": bool}
    caching: bool
    cache_key: str
    retry: RetryPolicy
    context: PipelineContext


@dataclass(frozen=True)
class JobOutcome:
    state: str  # SUCCEEDED, FAILED or CANCELED
    outputs: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None
    executor_detail: Mapping[str, Any] | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None


@dataclass
class Step:
    """What the engine must do after feeding the interpreter one event."""

    tasks: list[TaskStatusEvent] = field(default_factory=list)
    jobs: list[Job] = field(default_factory=list)
    kill: list[str] = field(default_factory=list)
    run_state: str | None = None
    run_error: dict[str, Any] | None = None


@dataclass(eq=False)
class Node:
    node_id: str
    path: str
    kind: str
    name: str
    display_name: str
    parent: Node | None
    component: Mapping[str, Any]
    task: Mapping[str, Any] | None = None
    state: str = PENDING
    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=lambda: {"parameters": {}, "artifacts": {}})
    children: dict[str, Node] = field(default_factory=dict)
    error: str | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    items: list[Any] = field(default_factory=list)
    parallelism: int = 0
    exit_task: bool = False
    upstream_failed: bool = False  # SKIPPED because an upstream task failed
    done_children: int = 0  # kept by _end, so loops of many items count in O(1)
    inputs_sent: bool = False  # inputs go out with the node's first event only

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


def _empty_outputs() -> dict[str, Any]:
    return {"parameters": {}, "artifacts": {}}


class RunInterpreter:
    def __init__(
        self,
        run: SubmittedRun,
        *,
        restored: Mapping[str, RestoredTask] | None = None,
        max_parallel: int = 0,
        default_pipeline_root: str = "",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.run = run
        self.default_pipeline_root = default_pipeline_root
        self.spec = run.pipeline_spec
        self.components: Mapping[str, Any] = self.spec.get("components") or {}
        self.executors: Mapping[str, Any] = (self.spec.get("deploymentSpec") or {}).get(
            "executors"
        ) or {}
        kubernetes = ((run.platform_spec or {}).get("platforms") or {}).get("kubernetes") or {}
        self.platform_executors: Mapping[str, Any] = (kubernetes.get("deploymentSpec") or {}).get(
            "executors"
        ) or {}
        self.restored = dict(restored or {})
        # Like the workflow name KFP gives a run: the pipeline's name and a short suffix.
        self.job_resource_name = (
            f"{_resource_name(str((self.spec.get('pipelineInfo') or {}).get('name') or ''))}"
            f"-{run.run_id.replace('-', '')[:5]}"
        )
        self.max_parallel = max_parallel
        self.clock = clock
        self.nodes: dict[str, Node] = {}
        self.root: Node | None = None
        self.cancelling = False
        self.deadline_error: str | None = None
        self.finished = False
        self._running: set[str] = set()
        self._ready: deque[Job] = deque()
        self._dirty: list[Node] = []
        self._step = Step()
        self._first_error: str | None = None

    # --- events -------------------------------------------------------------------------

    def start(self) -> Step:
        root_spec = self.spec.get("root") or {}
        definitions = (root_spec.get("inputDefinitions") or {}).get("parameters") or {}
        name = (self.spec.get("pipelineInfo") or {}).get("name") or "pipeline"
        root = self._new_node("root", "dag", name, name, None, root_spec)
        self.root = root
        self._step.run_state = RUNNING
        try:
            root.parameters = self._pipeline_parameters(definitions)
        except InputValueError as exc:
            self._end(root, FAILED, str(exc), code=CODE_INVALID_ARGUMENT)
            return self._flush()
        self._open_scope(root)
        return self._flush()

    def job_started(
        self, node_id_: str, when: datetime, detail: Mapping[str, Any] | None = None
    ) -> Step:
        """A job's process started (a cache hit never starts one); ``detail`` (its log,
        its job name) goes into the task's executor detail."""
        node = self.nodes.get(node_id_)
        if node is not None and not node.done:
            node.detail.update(detail or {})
            if node.state != RUNNING:
                node.start_time = when
            node.state = RUNNING
            self._event(node)
        return self._flush()

    def job_finished(self, node_id_: str, outcome: JobOutcome) -> Step:
        node = self.nodes.get(node_id_)
        if node is None or node.done:
            return self._flush()
        self._running.discard(node_id_)
        node.outputs = {
            "parameters": dict(outcome.outputs.get("parameters") or {}),
            "artifacts": dict(outcome.outputs.get("artifacts") or {}),
        }
        if outcome.executor_detail:
            node.detail.update(outcome.executor_detail)
        if outcome.start_time:
            node.start_time = outcome.start_time
        self._end(node, outcome.state, outcome.error, when=outcome.end_time)
        return self._flush()

    def cancel(self, *, deadline: str | None = None) -> Step:
        """Terminate: kill running jobs, cancel everything not started except exit tasks.
        With ``deadline`` (the run ran out of time) the run ends FAILED with that message
        instead of CANCELED."""
        if self.finished or self.cancelling:
            return self._flush()
        self.cancelling = True
        self.deadline_error = deadline
        self._step.kill.extend(sorted(self._running))
        while self._ready:
            job = self._ready.popleft()
            self._end(self.nodes[job.node_id], CANCELED, "the run was terminated")
        for node in self.nodes.values():
            if not node.done and node.kind in ("dag", "iteration", "loop"):
                self._dirty.append(node)
        return self._flush()

    @property
    def running_jobs(self) -> frozenset[str]:
        return frozenset(self._running)

    # --- scopes -------------------------------------------------------------------------

    def _open_scope(self, scope: Node) -> None:
        """Start a dag/iteration node: it is RUNNING and its ready tasks start."""
        self._set_running(scope)
        self._dirty.append(scope)

    def _settle(self) -> None:
        while self._dirty:
            node = self._dirty.pop()
            if node.done:
                continue
            if node.kind == "loop":
                self._advance_loop(node)
            else:
                self._advance_scope(node)

    def _advance_scope(self, scope: Node) -> None:
        tasks: Mapping[str, Any] = (scope.component.get("dag") or {}).get("tasks") or {}
        for name, task in tasks.items():
            if name in scope.children:
                continue
            deps = task.get("dependentTasks") or []
            if all(dep in scope.children and scope.children[dep].done for dep in deps):
                self._start_task(scope, name, task)
        if len(scope.children) == len(tasks) and scope.done_children == len(tasks):
            self._finish_scope(scope)

    def _finish_scope(self, scope: Node) -> None:
        children = list(scope.children.values())
        failed = [c for c in children if c.state == FAILED]
        if failed:
            first = failed[0]
            reason = first.error or "failed"
            message = (
                reason if first.kind != "executor" else f"task {first.display_name!r}: {reason}"
            )
            self._end(scope, FAILED, message)
            return
        if any(c.state == CANCELED for c in children):
            self._end(scope, CANCELED, "the run was terminated")
            return
        scope.outputs = self._scope_outputs(scope)
        self._end(scope, SUCCEEDED)

    def _scope_outputs(self, scope: Node) -> dict[str, Any]:
        outputs = _empty_outputs()
        declared = (scope.component.get("dag") or {}).get("outputs") or {}
        for name, source in (declared.get("parameters") or {}).items():
            selectors: Iterable[Mapping[str, Any]]
            if "valueFromParameter" in source:
                selectors = [source["valueFromParameter"]]
            else:
                selectors = (source.get("valueFromOneof") or {}).get("parameterSelectors") or []
            for selector in selectors:
                producer = scope.children.get(selector.get("producerSubtask", ""))
                key = selector.get("outputParameterKey", "")
                if producer and producer.state == SUCCEEDED:
                    values = producer.outputs.get("parameters") or {}
                    if key in values:
                        outputs["parameters"][name] = values[key]
                        break
        for name, source in (declared.get("artifacts") or {}).items():
            for selector in source.get("artifactSelectors") or []:
                producer = scope.children.get(selector.get("producerSubtask", ""))
                key = selector.get("outputArtifactKey", "")
                if producer and producer.state == SUCCEEDED:
                    found = (producer.outputs.get("artifacts") or {}).get(key)
                    if found is not None:
                        outputs["artifacts"][name] = list(found)
                        break
        return outputs

    # --- loops --------------------------------------------------------------------------

    def _advance_loop(self, loop: Node) -> None:
        active = len(loop.children) - loop.done_children
        iterator = loop.task or {}
        item_input = (
            iterator.get("parameterIterator") or iterator.get("artifactIterator") or {}
        ).get("itemInput", "")
        for index in range(len(loop.children), len(loop.items)):
            if not self.cancelling and loop.parallelism and active >= loop.parallelism:
                break
            path = f"{loop.path}/{index}"
            label = f"{loop.display_name} #{index}"
            iteration = self._new_node(path, "iteration", str(index), label, loop, loop.component)
            loop.children[str(index)] = iteration
            iteration.parameters = dict(loop.parameters)
            iteration.artifacts = dict(loop.artifacts)
            item = loop.items[index]
            if "artifactIterator" in iterator:
                iteration.artifacts[item_input] = [item]
            else:
                iteration.parameters[item_input] = item
            if self.cancelling:
                self._end(iteration, CANCELED, "the run was terminated")
                continue
            self._open_scope(iteration)
            active += 1
        if len(loop.children) == len(loop.items) and loop.done_children == len(loop.items):
            self._finish_loop(loop)

    def _finish_loop(self, loop: Node) -> None:
        iterations = [loop.children[str(i)] for i in range(len(loop.items))]
        failed = [c for c in iterations if c.state == FAILED]
        if failed:
            self._end(loop, FAILED, failed[0].error)
            return
        if any(c.state == CANCELED for c in iterations):
            self._end(loop, CANCELED, "the run was terminated")
            return
        outputs = _empty_outputs()
        declared = loop.component.get("outputDefinitions") or {}
        for name in declared.get("parameters") or {}:
            outputs["parameters"][name] = [
                c.outputs["parameters"][name]
                for c in iterations
                if name in (c.outputs.get("parameters") or {})
            ]
        for name in declared.get("artifacts") or {}:
            collected: list[dict[str, Any]] = []
            for c in iterations:
                collected.extend((c.outputs.get("artifacts") or {}).get(name) or [])
            outputs["artifacts"][name] = collected
        loop.outputs = outputs
        self._end(loop, SUCCEEDED)

    # --- tasks --------------------------------------------------------------------------

    def _start_task(self, scope: Node, name: str, task: Mapping[str, Any]) -> None:
        component_name = (task.get("componentRef") or {}).get("name", "")
        component = self.components.get(component_name) or {}
        display = (task.get("taskInfo") or {}).get("name") or name
        path = f"{scope.path}/{name}"
        is_loop = "parameterIterator" in task or "artifactIterator" in task
        if is_loop:
            kind = "loop"
        elif "dag" in component:
            kind = "dag"
        else:
            executor = self.executors.get(component.get("executorLabel", "")) or {}
            kind = "importer" if "importer" in executor else "executor"
        node = self._new_node(path, kind, name, display, scope, component, task)
        scope.children[name] = node

        policy = task.get("triggerPolicy") or {}
        completed_strategy = policy.get("strategy") == COMPLETED_STRATEGY
        bindings = (task.get("inputs") or {}).get("parameters") or {}
        node.exit_task = completed_strategy and any(
            "taskFinalStatus" in b for b in bindings.values()
        )
        upstream = [scope.children[d] for d in task.get("dependentTasks") or []]
        if self.cancelling and not node.exit_task:
            self._end(node, CANCELED, "the run was terminated before this task started")
            return
        if not completed_strategy:
            # A task skipped because its own upstream failed passes the failure on.
            bad = [
                u
                for u in upstream
                if u.state in (FAILED, CANCELED) or (u.state == SKIPPED and u.upstream_failed)
            ]
            if bad:
                if any(u.state == CANCELED for u in bad):
                    self._end(node, CANCELED, "an upstream task was cancelled")
                else:
                    node.upstream_failed = True
                    self._end(node, SKIPPED, f"upstream task {bad[0].display_name!r} failed")
                return
        try:
            self._resolve_inputs(scope, node, task)
        except InputValueError as exc:
            self._end(node, FAILED, str(exc), code=CODE_INVALID_ARGUMENT)
            return
        condition = policy.get("condition")
        if condition:
            try:
                taken = evaluate_condition(condition, node.parameters)
            except ConditionError as exc:
                self._end(node, FAILED, f"condition {condition!r}: {exc}")
                return
            if not taken:
                self._end(node, SKIPPED)
                return
        if kind == "loop":
            self._start_loop(node, task)
        elif kind == "dag":
            self._open_scope(node)
        elif kind == "importer":
            self._run_importer(node)
        else:
            self._queue_executor(node)

    def _resolve_inputs(self, scope: Node, node: Node, task: Mapping[str, Any]) -> None:
        """Bind the task's inputs from its scope, then type them by the component's
        declarations, filling defaults and refusing missing required values."""
        inputs = task.get("inputs") or {}
        context = self._context(node)
        parameters: dict[str, Any] = {}
        for name, binding in (inputs.get("parameters") or {}).items():
            present, value = self._bind_parameter(scope, node, name, binding, context)
            if not present:
                continue
            selector = binding.get("parameterExpressionSelector")
            if selector:
                value = apply_selector(value, selector, name=name)
            parameters[name] = value
        artifacts: dict[str, list[dict[str, Any]]] = {}
        for name, binding in (inputs.get("artifacts") or {}).items():
            found = self._bind_artifact(scope, binding)
            if found is not None:
                artifacts[name] = found
        declared = node.component.get("inputDefinitions") or {}
        definitions = declared.get("parameters") or {}
        iterator = task.get("parameterIterator") or task.get("artifactIterator") or {}
        item_input = iterator.get("itemInput")
        for name, default in defaults_of(definitions).items():
            parameters.setdefault(name, default)
        for name, spec in definitions.items():
            if name in parameters:
                parameters[name] = coerce(parameters[name], spec.get("parameterType"), name=name)
            elif not spec.get("isOptional") and name != item_input:
                raise InputValueError(f"input {name!r} of task {node.display_name!r} has no value")
        for name, spec in (declared.get("artifacts") or {}).items():
            if name not in artifacts and not spec.get("isOptional") and name != item_input:
                raise InputValueError(
                    f"input artifact {name!r} of task {node.display_name!r} has no value"
                )
        node.parameters = parameters
        node.artifacts = artifacts

    def _bind_parameter(
        self,
        scope: Node,
        node: Node,
        name: str,
        binding: Mapping[str, Any],
        context: PipelineContext,
    ) -> tuple[bool, Any]:
        if "componentInputParameter" in binding:
            source = binding["componentInputParameter"]
            if source in scope.parameters:
                return True, scope.parameters[source]
            return False, None
        if "taskOutputParameter" in binding:
            ref = binding["taskOutputParameter"]
            producer = scope.children.get(ref.get("producerTask", ""))
            if producer is not None and producer.state == SUCCEEDED:
                values = producer.outputs.get("parameters") or {}
                key = ref.get("outputParameterKey", "")
                if key in values:
                    return True, values[key]
            return False, None
        if "runtimeValue" in binding:
            constant = (binding["runtimeValue"] or {}).get("constant")
            return True, expand_context(constant, context)
        if "taskFinalStatus" in binding:
            producer = scope.children.get(binding["taskFinalStatus"].get("producerTask", ""))
            if producer is None:
                return False, None
            error = producer.error if producer.state in (FAILED, CANCELED) else None
            # As KFP's backend reports it: ML-Metadata's execution state names, the job's
            # resource name, and the producer's task key (e.g. "exit-handler-1").
            return True, {
                "state": _FINAL_STATES.get(producer.state, producer.state),
                "pipelineJobResourceName": context.job_resource_name or context.job_name,
                "pipelineTaskName": producer.name,
                "error": {
                    "code": CODE_CANCELLED if producer.state == CANCELED else CODE_UNKNOWN,
                    "message": error or "",
                }
                if error
                else {},
            }
        raise InputValueError(f"input {name!r}: unsupported binding {sorted(binding)}")

    @staticmethod
    def _bind_artifact(scope: Node, binding: Mapping[str, Any]) -> list[dict[str, Any]] | None:
        if "componentInputArtifact" in binding:
            return scope.artifacts.get(binding["componentInputArtifact"])
        if "taskOutputArtifact" in binding:
            ref = binding["taskOutputArtifact"]
            producer = scope.children.get(ref.get("producerTask", ""))
            if producer is not None and producer.state == SUCCEEDED:
                found = (producer.outputs.get("artifacts") or {}).get(
                    ref.get("outputArtifactKey", "")
                )
                return list(found) if found is not None else None
        return None

    def _start_loop(self, loop: Node, task: Mapping[str, Any]) -> None:
        if "artifactIterator" in task:
            iterator = task["artifactIterator"]
            source = (iterator.get("items") or {}).get("inputArtifact", "")
            loop.items = list(loop.artifacts.get(source) or [])
        else:
            iterator = task["parameterIterator"]
            items = iterator.get("items") or {}
            raw = (
                items["raw"]
                if "raw" in items
                else loop.parameters.get(str(items.get("inputParameter", "")))
            )
            try:
                loop.items = loop_items(raw, name=loop.display_name)
            except InputValueError as exc:
                self._end(loop, FAILED, str(exc), code=CODE_INVALID_ARGUMENT)
                return
        loop.parallelism = int((task.get("iteratorPolicy") or {}).get("parallelismLimit") or 0)
        loop.detail["iterations"] = len(loop.items)
        self._set_running(loop)
        self._dirty.append(loop)

    def _run_importer(self, node: Node) -> None:
        executor = self.executors[node.component.get("executorLabel", "")]["importer"]
        source = executor.get("artifactUri") or {}
        if "runtimeParameter" in source:
            uri = node.parameters.get(source["runtimeParameter"])
        else:
            uri = source.get("constant")
        if not isinstance(uri, str) or not uri:
            self._end(
                node, FAILED, "importer: the artifact uri is empty", code=CODE_INVALID_ARGUMENT
            )
            return
        metadata = executor.get("metadata") or {}
        artifact = {
            "name": "artifact",
            "uri": uri,
            "type": dict(executor.get("typeSchema") or {}),
            "metadata": dict(metadata),
        }
        self._set_running(node)
        node.outputs = {"parameters": {}, "artifacts": {"artifact": [artifact]}}
        self._end(node, SUCCEEDED)

    def _queue_executor(self, node: Node) -> None:
        restored = self.restored.get(node.node_id)
        if restored is not None and restored.state == SUCCEEDED:
            outputs = restored.outputs or {}
            node.outputs = {
                "parameters": dict(outputs.get("parameters") or {}),
                "artifacts": dict(outputs.get("artifacts") or {}),
            }
            node.detail.update(restored.executor_detail or {})
            node.state = SUCCEEDED  # already reported: no new event
            if node.parent is not None:
                node.parent.done_children += 1
                self._dirty.append(node.parent)
            return
        label = node.component.get("executorLabel", "")
        executor = self.executors.get(label) or {}
        container = executor.get("container")
        if not isinstance(container, Mapping):
            self._end(
                node, FAILED, f"executor {label!r} has no container", code=CODE_INVALID_ARGUMENT
            )
            return
        task = node.task or {}
        caching = task.get("cachingOptions") or {}
        retry = task.get("retryPolicy") or {}
        outputs = node.component.get("outputDefinitions") or {}
        job = Job(
            run_id=self.run.run_id,
            generation=self.run.generation,
            node_id=node.node_id,
            path=node.path,
            pipeline_name=str((self.spec.get("pipelineInfo") or {}).get("name") or ""),
            task_name=node.name,
            display_name=node.display_name,
            component=node.component,
            container=container,
            platform=self.platform_executors.get(label) or {},
            parameters=node.parameters,
            artifacts=node.artifacts,
            output_parameters={
                name: spec.get("parameterType", "STRING")
                for name, spec in (outputs.get("parameters") or {}).items()
            },
            output_artifacts={
                name: {
                    "type": dict(spec.get("artifactType") or {}),
                    "list": bool(spec.get("isArtifactList")),
                }
                for name, spec in (outputs.get("artifacts") or {}).items()
            },
            caching=bool(caching.get("enableCache")),
            cache_key=str(caching.get("cacheKey") or ""),
            retry=RetryPolicy(
                max_retries=int(retry.get("maxRetryCount") or 0),
                backoff_seconds=_seconds(retry.get("backoffDuration"), 0.0),
                backoff_factor=float(retry.get("backoffFactor") or 2.0),
                backoff_max_seconds=_seconds(retry.get("backoffMaxDuration"), 3600.0),
            ),
            context=self._context(node),
        )
        node.detail.update({"image": container.get("image", "")})
        self._ready.append(job)

    def _dispatch(self) -> None:
        """Hand ready jobs to the engine up to the run's parallelism. A job that has to wait
        is reported PENDING; one that goes at once is first reported when its process
        starts (RUNNING) or its cache hit returns: one write less per task."""
        while self._ready and (not self.max_parallel or len(self._running) < self.max_parallel):
            job = self._ready.popleft()
            self._running.add(job.node_id)
            self._step.jobs.append(job)
        for job in self._ready:
            node = self.nodes[job.node_id]
            if not node.detail.get("queued"):
                node.detail["queued"] = True
                self._event(node)

    # --- bookkeeping --------------------------------------------------------------------

    def _pipeline_parameters(self, definitions: Mapping[str, Any]) -> dict[str, Any]:
        values = defaults_of(definitions)
        for name, value in (self.run.parameters or {}).items():
            if name not in definitions:
                raise InputValueError(f"runtime_config.parameters: unknown parameter {name!r}")
            values[name] = value
        for name, spec in definitions.items():
            if name in values:
                values[name] = coerce(values[name], spec.get("parameterType"), name=name)
            elif not spec.get("isOptional"):
                raise InputValueError(f"runtime_config.parameters: {name!r} is required")
        return values

    def _context(self, node: Node) -> PipelineContext:
        created = self.run.created_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return PipelineContext(
            job_name=self.run.display_name,
            job_id=self.run.run_id,
            task_name=node.name,
            task_id=node.node_id,
            pipeline_root=self.run.pipeline_root
            or str(self.spec.get("defaultPipelineRoot") or "")
            or self.default_pipeline_root,
            job_resource_name=self.job_resource_name,
            create_time_utc=created,
            schedule_time_utc=created,
        )

    def _new_node(
        self,
        path: str,
        kind: str,
        name: str,
        display: str,
        parent: Node | None,
        component: Mapping[str, Any],
        task: Mapping[str, Any] | None = None,
    ) -> Node:
        node = Node(
            node_id=node_id(self.run.run_id, path),
            path=path,
            kind=kind,
            name=name,
            display_name=display,
            parent=parent,
            component=component,
            task=task,
        )
        node.detail = {"kind": kind, "path": path}
        self.nodes[node.node_id] = node
        return node

    def _set_running(self, node: Node) -> None:
        node.state = RUNNING
        node.start_time = self.clock()
        self._event(node)

    def _end(
        self,
        node: Node,
        state: str,
        error: str | None = None,
        *,
        code: int = CODE_UNKNOWN,
        when: datetime | None = None,
    ) -> None:
        node.state = state
        node.error = error if state in (FAILED, CANCELED, SKIPPED) else None
        node.end_time = when or self.clock()
        if node.start_time is None and state not in (SKIPPED, CANCELED):
            node.start_time = node.end_time
        if state == FAILED and node.kind == "executor" and self._first_error is None:
            self._first_error = f"task {node.display_name!r} failed: {error or 'failed'}"
        self._event(node, code=code)
        if node.parent is not None:
            node.parent.done_children += 1
            self._dirty.append(node.parent)
        elif node is self.root:
            self._finish_run(node, code)

    def _finish_run(self, root: Node, code: int) -> None:
        self.finished = True
        if self.deadline_error:
            self._step.run_state = FAILED
            self._step.run_error = {"code": CODE_DEADLINE_EXCEEDED, "message": self.deadline_error}
        elif self.cancelling:
            self._step.run_state = CANCELED
            self._step.run_error = {"code": CODE_CANCELLED, "message": "the run was terminated"}
        elif root.state == SUCCEEDED:
            self._step.run_state = SUCCEEDED
        else:
            self._step.run_state = FAILED
            message = self._first_error or root.error or "the run failed"
            self._step.run_error = {"code": code, "message": message}

    def _event(self, node: Node, *, code: int = CODE_UNKNOWN) -> None:
        error = None
        if node.error and node.state in (FAILED, CANCELED):
            error = {
                "code": CODE_CANCELLED if node.state == CANCELED else code,
                "message": node.error,
            }
        show_outputs = node.state == SUCCEEDED and (
            node.outputs.get("parameters") or node.outputs.get("artifacts")
        )
        self._step.tasks.append(
            TaskStatusEvent(
                task_id=node.node_id,
                state=node.state,
                update_time=self.clock(),
                display_name=node.display_name,
                parent_task_id=node.parent.node_id if node.parent else None,
                start_time=node.start_time,
                end_time=node.end_time if node.done else None,
                error=error,
                execution_id=_text(node.detail.get("execution_id")),
                executor_detail=dict(node.detail),
                inputs=self._inputs_once(node),
                outputs=_sections(**node.outputs) if show_outputs else None,
            )
        )

    @staticmethod
    def _inputs_once(node: Node) -> dict[str, Any] | None:
        """A node's inputs, in its first event only: they never change afterwards, so
        later transitions need not carry (and re-encode, and re-write) them."""
        if node.inputs_sent or node.kind == "loop":
            return None
        node.inputs_sent = True
        return _sections(parameters=node.parameters, artifacts=node.artifacts)

    def _flush(self) -> Step:
        self._settle()
        self._dispatch()
        self._settle()
        step, self._step = self._step, Step()
        return step


# PipelineTaskFinalStatus.state uses ML-Metadata's execution state names, as in KFP.
_FINAL_STATES = {SUCCEEDED: "COMPLETE", FAILED: "FAILED", CANCELED: "CANCELED", SKIPPED: "SKIPPED"}


def _resource_name(name: str) -> str:
    """A Kubernetes-style name: lower case, ``[a-z0-9-]``, no leading/trailing dash."""
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part) or "pipeline"


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _sections(**sections: Any) -> dict[str, Any] | None:
    """``{"parameters": ..., "artifacts": ...}`` without the empty ones; None if all are."""
    kept = {name: value for name, value in sections.items() if value}
    return kept or None


def _seconds(value: Any, default: float) -> float:
    """A protobuf Duration in JSON (``"5s"``, ``"0.5s"``) as seconds."""
    if value is None or value == "":
        return default
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if text.endswith("s"):
        text = text[:-1]
    try:
        return float(text)
    except ValueError:
        return default
