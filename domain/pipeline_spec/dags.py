"""Checks of the DAGs inside a PipelineSpec: task references, bindings, outputs and cycles.

Every reference is resolved within one DAG (KFP never lets a task reference a task of another
DAG; the compiler threads such values through the sub-DAG's inputs instead).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from domain.pipeline_spec._paths import (
    ROOT_PATH,
    as_mapping,
    describe_kind,
    fail,
    join_entry,
    join_field,
    opt_list,
    opt_mapping,
    req_mapping,
    req_str,
    sorted_items,
)

# Task parameter inputs the kfp compiler adds on top of the component's declared inputs: a
# value built from channels (f-strings, resource settings such as ``set_cpu_limit(task.output)``,
# ``set_container_image(param)``) becomes extra task inputs the backend resolves for placeholders.
INJECTED_INPUT_PREFIX = "pipelinechannel--"
INJECTED_INPUT_NAMES = frozenset(
    {
        "cpu_request",
        "cpu_limit",
        "memory_request",
        "memory_limit",
        "accelerator_type",
        "accelerator_count",
        "base_image",
    }
)


@dataclass(frozen=True)
class Interface:
    """The declared inputs/outputs of one component (or of the root)."""

    input_parameters: frozenset[str]
    input_artifacts: frozenset[str]
    # None when the component declares no outputDefinitions at all: then output keys read
    # from it are not checked (hand-written specs may omit them).
    output_parameters: frozenset[str] | None
    output_artifacts: frozenset[str] | None


@dataclass(frozen=True)
class SpecIndex:
    """What every DAG check needs from the whole spec: components and their interfaces."""

    components: Mapping[str, Mapping[str, Any]]
    interfaces: Mapping[str, Interface]


@dataclass(frozen=True)
class _Dag:
    """One DAG being checked: its path, tasks, and the component that encloses it."""

    path: str
    tasks: Mapping[str, Any]
    owner: str  # human description of the enclosing component, for messages
    io: Interface

    def task_path(self, name: str) -> str:
        return join_entry(join_field(self.path, "tasks"), name)


def check_dag(
    dag_spec: Mapping[str, Any], path: str, owner: str, io: Interface, ctx: SpecIndex
) -> None:
    """Check one DAG (the root's or a component's) whose enclosing component declares ``io``."""
    dag = _Dag(path=path, tasks=opt_mapping(dag_spec, "tasks", path), owner=owner, io=io)
    for name, task in sorted_items(dag.tasks):
        _check_task(name, as_mapping(task, dag.task_path(name)), dag, ctx)
    _check_dag_outputs(opt_mapping(dag_spec, "outputs", path), dag, ctx)
    cycle = _find_cycle({name: _upstream(task) for name, task in dag.tasks.items()})
    if cycle:
        fail(join_field(path, "tasks"), f"dependency cycle: {' -> '.join(cycle)}")


def _check_task(name: str, task: Mapping[str, Any], dag: _Dag, ctx: SpecIndex) -> None:
    path = dag.task_path(name)
    ref_path = join_field(path, "componentRef")
    ref = req_str(req_mapping(task, "componentRef", path), "name", ref_path)
    if ref not in ctx.components:
        fail(join_field(ref_path, "name"), f"unknown component {ref!r}")
    io = ctx.interfaces[ref]

    for index, upstream in enumerate(opt_list(task, "dependentTasks", path)):
        _check_task_name(upstream, join_entry(join_field(path, "dependentTasks"), index), dag)

    inputs = opt_mapping(task, "inputs", path)
    inputs_path = join_field(path, "inputs")
    parameters = opt_mapping(inputs, "parameters", inputs_path)
    for input_name, binding in sorted_items(parameters):
        entry_path = join_entry(join_field(inputs_path, "parameters"), input_name)
        if not _is_known_parameter_input(input_name, io):
            fail(entry_path, f"component {ref!r} has no input parameter {input_name!r}")
        _check_parameter_binding(as_mapping(binding, entry_path), entry_path, dag, ctx)
    artifacts = opt_mapping(inputs, "artifacts", inputs_path)
    for input_name, binding in sorted_items(artifacts):
        entry_path = join_entry(join_field(inputs_path, "artifacts"), input_name)
        if input_name not in io.input_artifacts:
            fail(entry_path, f"component {ref!r} has no input artifact {input_name!r}")
        _check_artifact_binding(as_mapping(binding, entry_path), entry_path, dag, ctx)

    _check_iterators(task, path, ref, io, parameters, artifacts)


def _is_known_parameter_input(name: str, io: Interface) -> bool:
    return (
        name in io.input_parameters
        or name.startswith(INJECTED_INPUT_PREFIX)
        or name in INJECTED_INPUT_NAMES
    )


def _check_task_name(value: Any, path: str, dag: _Dag) -> str:
    """``value`` must name a task of the same DAG."""
    if not isinstance(value, str):
        fail(path, f"must be a task name (string), got {describe_kind(value)}")
    if value not in dag.tasks:
        fail(path, f"unknown task {value!r} (not a task of the same DAG)")
    return value


def _check_parameter_binding(
    binding: Mapping[str, Any], path: str, dag: _Dag, ctx: SpecIndex
) -> None:
    if "componentInputParameter" in binding:
        name = req_str(binding, "componentInputParameter", path)
        if name not in dag.io.input_parameters:
            fail(
                join_field(path, "componentInputParameter"),
                f"{name!r} is not an input parameter of {dag.owner}",
            )
    if "taskOutputParameter" in binding:
        ref_path = join_field(path, "taskOutputParameter")
        ref = req_mapping(binding, "taskOutputParameter", path)
        producer = _check_task_name(
            ref.get("producerTask"), join_field(ref_path, "producerTask"), dag
        )
        key = req_str(ref, "outputParameterKey", ref_path)
        _check_output_key(
            producer, key, "parameter", join_field(ref_path, "outputParameterKey"), dag, ctx
        )
    if "taskFinalStatus" in binding:
        status_path = join_field(path, "taskFinalStatus")
        status = req_mapping(binding, "taskFinalStatus", path)
        _check_task_name(status.get("producerTask"), join_field(status_path, "producerTask"), dag)


def _check_artifact_binding(
    binding: Mapping[str, Any], path: str, dag: _Dag, ctx: SpecIndex
) -> None:
    if "componentInputArtifact" in binding:
        name = req_str(binding, "componentInputArtifact", path)
        if name not in dag.io.input_artifacts:
            fail(
                join_field(path, "componentInputArtifact"),
                f"{name!r} is not an input artifact of {dag.owner}",
            )
    if "taskOutputArtifact" in binding:
        ref_path = join_field(path, "taskOutputArtifact")
        ref = req_mapping(binding, "taskOutputArtifact", path)
        producer = _check_task_name(
            ref.get("producerTask"), join_field(ref_path, "producerTask"), dag
        )
        key = req_str(ref, "outputArtifactKey", ref_path)
        _check_output_key(
            producer, key, "artifact", join_field(ref_path, "outputArtifactKey"), dag, ctx
        )


def _check_output_key(
    producer: str, key: str, kind: str, path: str, dag: _Dag, ctx: SpecIndex
) -> None:
    """``key`` must be an output of the producer task's component, if that declares outputs."""
    ref = _component_of(dag.tasks[producer])
    if ref is None or ref not in ctx.interfaces:
        return  # the producer's own componentRef error is reported where it lives
    io = ctx.interfaces[ref]
    declared = io.output_parameters if kind == "parameter" else io.output_artifacts
    if declared is not None and key not in declared:
        fail(path, f"task {producer!r} (component {ref!r}) has no output {kind} {key!r}")


def _check_iterators(
    task: Mapping[str, Any],
    path: str,
    ref: str,
    io: Interface,
    parameters: Mapping[str, Any],
    artifacts: Mapping[str, Any],
) -> None:
    """``parameterIterator`` / ``artifactIterator`` must feed inputs the component declares."""
    for field, kind, declared, bound, items_key in (
        ("parameterIterator", "parameter", io.input_parameters, parameters, "inputParameter"),
        ("artifactIterator", "artifact", io.input_artifacts, artifacts, "inputArtifact"),
    ):
        if task.get(field) is None:
            continue
        it_path = join_field(path, field)
        iterator = as_mapping(task[field], it_path)
        item = req_str(iterator, "itemInput", it_path)
        if item not in declared:
            fail(
                join_field(it_path, "itemInput"), f"component {ref!r} has no input {kind} {item!r}"
            )
        items = opt_mapping(iterator, "items", it_path)
        source = items.get(items_key)
        # The iterated list is one of the task's own inputs (or, leniently, a declared one).
        if source is not None and source not in bound and source not in declared:
            fail(
                join_field(join_field(it_path, "items"), items_key),
                f"{source!r} is not an input {kind} of task (component {ref!r})",
            )


def _check_dag_outputs(outputs: Mapping[str, Any], dag: _Dag, ctx: SpecIndex) -> None:
    """DAG outputs select outputs of tasks of the same DAG."""
    path = join_field(dag.path, "outputs")
    for name, spec in sorted_items(opt_mapping(outputs, "parameters", path)):
        out_path = join_entry(join_field(path, "parameters"), name)
        spec = as_mapping(spec, out_path)
        selectors: list[tuple[str, Any]] = []
        if spec.get("valueFromParameter") is not None:
            selectors.append(
                (join_field(out_path, "valueFromParameter"), spec["valueFromParameter"])
            )
        if spec.get("valueFromOneof") is not None:
            oneof_path = join_field(out_path, "valueFromOneof")
            oneof = as_mapping(spec["valueFromOneof"], oneof_path)
            for index, selector in enumerate(opt_list(oneof, "parameterSelectors", oneof_path)):
                selectors.append(
                    (join_entry(join_field(oneof_path, "parameterSelectors"), index), selector)
                )
        for sel_path, selector in selectors:
            _check_selector(selector, sel_path, "outputParameterKey", "parameter", dag, ctx)
    for name, spec in sorted_items(opt_mapping(outputs, "artifacts", path)):
        out_path = join_entry(join_field(path, "artifacts"), name)
        spec = as_mapping(spec, out_path)
        for index, selector in enumerate(opt_list(spec, "artifactSelectors", out_path)):
            sel_path = join_entry(join_field(out_path, "artifactSelectors"), index)
            _check_selector(selector, sel_path, "outputArtifactKey", "artifact", dag, ctx)


def _check_selector(
    selector: Any, path: str, key_field: str, kind: str, dag: _Dag, ctx: SpecIndex
) -> None:
    selector = as_mapping(selector, path)
    producer = _check_task_name(
        selector.get("producerSubtask"), join_field(path, "producerSubtask"), dag
    )
    key = req_str(selector, key_field, path)
    _check_output_key(producer, key, kind, join_field(path, key_field), dag, ctx)


def _component_of(task: Any) -> str | None:
    if not isinstance(task, Mapping):
        return None
    ref = task.get("componentRef")
    name = ref.get("name") if isinstance(ref, Mapping) else None
    return name if isinstance(name, str) else None


def _upstream(task: Any) -> list[str]:
    """Every task this task waits for: explicit dependentTasks plus data producers.

    Only called after the task passed ``_check_task``, so the shapes are known good.
    """
    names: set[str] = set(task.get("dependentTasks") or [])
    inputs = task.get("inputs") or {}
    for binding in (inputs.get("parameters") or {}).values():
        for field in ("taskOutputParameter", "taskFinalStatus"):
            if isinstance(binding.get(field), Mapping):
                names.add(binding[field]["producerTask"])
    for binding in (inputs.get("artifacts") or {}).values():
        if isinstance(binding.get("taskOutputArtifact"), Mapping):
            names.add(binding["taskOutputArtifact"]["producerTask"])
    return sorted(names)


def check_component_cycles(components: Mapping[str, Mapping[str, Any]]) -> None:
    """A component's DAG must not (transitively) instantiate the component itself."""
    graph: dict[str, list[str]] = {}
    for name, component in components.items():
        tasks = (component.get("dag") or {}).get("tasks") or {}
        refs = {_component_of(task) for task in tasks.values()}
        graph[name] = sorted(ref for ref in refs if ref is not None)
    cycle = _find_cycle(graph)
    if cycle:
        fail(join_field(ROOT_PATH, "components"), f"component DAG cycle: {' -> '.join(cycle)}")


def _find_cycle(graph: Mapping[str, list[str]]) -> list[str] | None:
    """First cycle found (as ``[a, b, ..., a]``) by a sorted, iterative depth-first search.

    Iterative so that a long chain of tasks cannot exhaust Python's recursion limit.
    """
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        stack: list[tuple[str, Iterator[str]]] = [(start, iter(graph[start]))]
        on_path = {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(node)
                done.add(node)
            elif child in on_path:
                path = [entry for entry, _ in stack]
                return [*path[path.index(child) :], child]
            elif child not in done and child in graph:
                stack.append((child, iter(graph[child])))
                on_path.add(child)
    return None
