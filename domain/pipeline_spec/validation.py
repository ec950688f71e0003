"""Structural validation of a compiled KFP PipelineSpec (the IR), as a plain dict.

The checks catch what would otherwise fail late and obscurely at run time: dangling references
between tasks, components and executors, unknown input/output names, cycles and unknown schema
versions. They deliberately stop short of re-implementing the protobuf schema: anything the kfp
2.x SDK compiles must pass, so every rule here was checked against the corpus in
``tests/pipelines`` and unknown *extra* fields are always tolerated.

Errors name the offending field with a path such as
``pipeline_spec.root.dag.tasks['train'].componentRef.name`` followed by the problem. Mappings are
walked in sorted key order so the first error reported is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from domain.errors import InvalidArgument

ROOT_PATH = "pipeline_spec"

# protobuf PipelineSpec.schemaVersion: KFP v2 backends accept any 2.x.y.
_SCHEMA_VERSION = re.compile(r"^2\.\d+\.\d+$")

PARAMETER_TYPES = frozenset(
    {
        "PARAMETER_TYPE_ENUM_UNSPECIFIED",
        "NUMBER_DOUBLE",
        "NUMBER_INTEGER",
        "STRING",
        "BOOLEAN",
        "LIST",
        "STRUCT",
        "TASK_FINAL_STATUS",
        "TASK_CONFIG",
    }
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

# The members of the PipelineDeploymentConfig.ExecutorSpec oneof.
EXECUTOR_KINDS = ("container", "importer", "resolver", "customJob")


# --------------------------------------------------------------------------- path helpers


def _field(path: str, name: str) -> str:
    """Path of a fixed (schema-defined) field."""
    return f"{path}.{name}"


def _entry(path: str, key: str | int) -> str:
    """Path of a user-named map entry or a list item."""
    return f"{path}[{key!r}]"


def _fail(path: str, problem: str) -> NoReturn:
    raise InvalidArgument(f"{path}: {problem}")


def describe_kind(value: Any) -> str:
    """A JSON-ish name for the type of ``value``, for error messages ("a list")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "a mapping"
    return type(value).__name__


def _as_mapping(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(path, f"must be a mapping, got {describe_kind(value)}")
    return value


def _opt_mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``container[key]`` as a mapping; an absent (or null) field reads as empty."""
    value = container.get(key)
    if value is None:
        return {}
    return _as_mapping(value, _field(path, key))


def _req_mapping(container: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    if container.get(key) is None:
        _fail(_field(path, key), "missing")
    return _as_mapping(container[key], _field(path, key))


def _opt_list(container: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = container.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(_field(path, key), f"must be a list, got {describe_kind(value)}")
    return value


def _req_str(container: Mapping[str, Any], key: str, path: str) -> str:
    """A required non-empty string field."""
    value = container.get(key)
    if value is None:
        _fail(_field(path, key), "missing")
    if not isinstance(value, str) or not value:
        _fail(
            _field(path, key), f"must be a non-empty string, got {describe_kind(value)} {value!r}"
        )
    return value


def _sorted_items(mapping: Mapping[str, Any]) -> Iterator[tuple[str, Any]]:
    # Keys are strings once loaded (the package loader enforces it); str() guards odd callers.
    for key in sorted(mapping, key=str):
        yield key, mapping[key]


# --------------------------------------------------------------------------- model


@dataclass(frozen=True)
class _Interface:
    """The declared inputs/outputs of one component (or of the root)."""

    input_parameters: frozenset[str]
    input_artifacts: frozenset[str]
    # None when the component declares no outputDefinitions at all: then output keys read
    # from it are not checked (hand-written specs may omit them).
    output_parameters: frozenset[str] | None
    output_artifacts: frozenset[str] | None


@dataclass(frozen=True)
class _Spec:
    components: Mapping[str, Mapping[str, Any]]
    interfaces: Mapping[str, _Interface]


@dataclass(frozen=True)
class _Dag:
    """One DAG being checked: its path, tasks, and the component that encloses it."""

    path: str
    tasks: Mapping[str, Any]
    owner: str  # human description of the enclosing component, for messages
    io: _Interface

    def task_path(self, name: str) -> str:
        return _entry(_field(self.path, "tasks"), name)


# --------------------------------------------------------------------------- entry point


def validate_pipeline_spec(spec: Any) -> None:
    """Check a PipelineSpec dict; raise ``InvalidArgument`` naming the first problem found.

    The message has the form ``<field path>: <problem>``, for example
    ``pipeline_spec.root.dag.tasks['train'].componentRef.name: unknown component 'comp-trian'``.
    """
    spec = _as_mapping(spec, ROOT_PATH)
    _check_pipeline_info(spec)
    _check_schema_version(spec)
    root = _req_mapping(spec, "root", ROOT_PATH)
    root_path = _field(ROOT_PATH, "root")
    root_dag = _check_root_shape(root, root_path)

    components = _components(spec, root_dag)
    executors = _executors(spec)
    interfaces: dict[str, _Interface] = {}
    for name, component in _sorted_items(components):
        path = _entry(_field(ROOT_PATH, "components"), name)
        component = _as_mapping(component, path)
        _check_componentdescribe_kind(component, path, executors)
        interfaces[name] = _interface(component, path)
    for label, executor in _sorted_items(executors):
        _check_executor(executor, _entry(_field(ROOT_PATH, "deploymentSpec.executors"), label))

    ctx = _Spec(components=components, interfaces=interfaces)
    root_io = _interface(root, root_path)
    _check_dag(root_dag, _field(root_path, "dag"), "the pipeline (root)", root_io, ctx)
    for name, component in _sorted_items(components):
        if "dag" in component:
            path = _field(_entry(_field(ROOT_PATH, "components"), name), "dag")
            dag = _as_mapping(component["dag"], path)
            _check_dag(dag, path, f"component {name!r}", interfaces[name], ctx)
    _check_component_cycles(components)


# --------------------------------------------------------------------------- top level


def _check_pipeline_info(spec: Mapping[str, Any]) -> None:
    info = _req_mapping(spec, "pipelineInfo", ROOT_PATH)
    _req_str(info, "name", _field(ROOT_PATH, "pipelineInfo"))


def _check_schema_version(spec: Mapping[str, Any]) -> None:
    path = _field(ROOT_PATH, "schemaVersion")
    version = spec.get("schemaVersion")
    if version is None:
        _fail(path, "missing (expected a 2.x.y version such as '2.1.0')")
    if not isinstance(version, str) or not _SCHEMA_VERSION.match(version):
        _fail(path, f"unsupported schema version {version!r} (expected 2.x.y, e.g. '2.1.0')")


def _check_root_shape(root: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    if "executorLabel" in root:
        _fail(path, "the root component must be a DAG, not an executor (executorLabel set)")
    if root.get("dag") is None:
        _fail(_field(path, "dag"), "missing; the root component must be a DAG")
    return _as_mapping(root["dag"], _field(path, "dag"))


def _components(spec: Mapping[str, Any], root_dag: Mapping[str, Any]) -> Mapping[str, Any]:
    path = _field(ROOT_PATH, "components")
    if spec.get("components") is None:
        root_tasks = _opt_mapping(root_dag, "tasks", _field(ROOT_PATH, "root.dag"))
        if root_tasks:
            _fail(path, "missing, but root.dag has tasks that reference components")
        return {}
    return _as_mapping(spec["components"], path)


def _executors(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    deployment = _opt_mapping(spec, "deploymentSpec", ROOT_PATH)
    return _opt_mapping(deployment, "executors", _field(ROOT_PATH, "deploymentSpec"))


# --------------------------------------------------------------------------- components


def _check_componentdescribe_kind(
    component: Mapping[str, Any], path: str, executors: Mapping[str, Any]
) -> None:
    has_label = "executorLabel" in component
    has_dag = "dag" in component
    if has_label == has_dag:
        which = "has both" if has_label else "has neither"
        _fail(path, f"must have exactly one of executorLabel or dag ({which})")
    if has_label:
        label = _req_str(component, "executorLabel", path)
        if label not in executors:
            _fail(
                _field(path, "executorLabel"),
                f"unknown executor {label!r} (not in deploymentSpec.executors)",
            )


def _check_executor(executor: Any, path: str) -> None:
    executor = _as_mapping(executor, path)
    kinds = [kind for kind in EXECUTOR_KINDS if kind in executor]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        _fail(path, f"must define exactly one of {', '.join(EXECUTOR_KINDS)} ({found})")
    body = _as_mapping(executor[kinds[0]], _field(path, kinds[0]))
    if kinds[0] == "container":
        _req_str(body, "image", _field(path, "container"))


def _interface(component: Mapping[str, Any], path: str) -> _Interface:
    """Read (and type-check) a component's inputDefinitions / outputDefinitions."""
    inputs = _opt_mapping(component, "inputDefinitions", path)
    in_params = _definitions(inputs, "parameters", _field(path, "inputDefinitions"))
    in_artifacts = _definitions(inputs, "artifacts", _field(path, "inputDefinitions"))
    if component.get("outputDefinitions") is None:
        return _Interface(in_params, in_artifacts, None, None)
    outputs = _opt_mapping(component, "outputDefinitions", path)
    out_params = _definitions(outputs, "parameters", _field(path, "outputDefinitions"))
    out_artifacts = _definitions(outputs, "artifacts", _field(path, "outputDefinitions"))
    return _Interface(in_params, in_artifacts, out_params, out_artifacts)


def _definitions(section: Mapping[str, Any], kind: str, path: str) -> frozenset[str]:
    """Names declared under ``parameters`` or ``artifacts``; checks each parameterType."""
    entries = _opt_mapping(section, kind, path)
    for name, spec in _sorted_items(entries):
        entry_path = _entry(_field(path, kind), name)
        spec = _as_mapping(spec, entry_path)
        if kind == "parameters" and spec.get("parameterType") is not None:
            _check_parameter_type(spec["parameterType"], _field(entry_path, "parameterType"))
    return frozenset(entries)


def _check_parameter_type(value: Any, path: str) -> None:
    if not isinstance(value, str) or value not in PARAMETER_TYPES:
        _fail(path, f"unknown parameter type {value!r} (expected one of {_known_types()})")


def _known_types() -> str:
    return ", ".join(sorted(PARAMETER_TYPES))


# --------------------------------------------------------------------------- DAGs


def _check_dag(
    dag_spec: Mapping[str, Any], path: str, owner: str, io: _Interface, ctx: _Spec
) -> None:
    dag = _Dag(path=path, tasks=_opt_mapping(dag_spec, "tasks", path), owner=owner, io=io)
    for name, task in _sorted_items(dag.tasks):
        _check_task(name, _as_mapping(task, dag.task_path(name)), dag, ctx)
    _check_dag_outputs(_opt_mapping(dag_spec, "outputs", path), dag, ctx)
    cycle = _find_cycle({name: _upstream(task) for name, task in dag.tasks.items()})
    if cycle:
        _fail(_field(path, "tasks"), f"dependency cycle: {' -> '.join(cycle)}")


def _check_task(name: str, task: Mapping[str, Any], dag: _Dag, ctx: _Spec) -> None:
    path = dag.task_path(name)
    ref_path = _field(path, "componentRef")
    ref = _req_str(_req_mapping(task, "componentRef", path), "name", ref_path)
    if ref not in ctx.components:
        _fail(_field(ref_path, "name"), f"unknown component {ref!r}")
    io = ctx.interfaces[ref]

    for index, upstream in enumerate(_opt_list(task, "dependentTasks", path)):
        _check_task_name(upstream, _entry(_field(path, "dependentTasks"), index), dag)

    inputs = _opt_mapping(task, "inputs", path)
    inputs_path = _field(path, "inputs")
    parameters = _opt_mapping(inputs, "parameters", inputs_path)
    for input_name, binding in _sorted_items(parameters):
        entry_path = _entry(_field(inputs_path, "parameters"), input_name)
        if not _is_known_parameter_input(input_name, io):
            _fail(entry_path, f"component {ref!r} has no input parameter {input_name!r}")
        _check_parameter_binding(_as_mapping(binding, entry_path), entry_path, dag, ctx)
    artifacts = _opt_mapping(inputs, "artifacts", inputs_path)
    for input_name, binding in _sorted_items(artifacts):
        entry_path = _entry(_field(inputs_path, "artifacts"), input_name)
        if input_name not in io.input_artifacts:
            _fail(entry_path, f"component {ref!r} has no input artifact {input_name!r}")
        _check_artifact_binding(_as_mapping(binding, entry_path), entry_path, dag, ctx)

    _check_iterators(task, path, ref, io, parameters, artifacts)


def _is_known_parameter_input(name: str, io: _Interface) -> bool:
    return (
        name in io.input_parameters
        or name.startswith(INJECTED_INPUT_PREFIX)
        or name in INJECTED_INPUT_NAMES
    )


def _check_task_name(value: Any, path: str, dag: _Dag) -> str:
    """``value`` must name a task of the same DAG."""
    if not isinstance(value, str):
        _fail(path, f"must be a task name (string), got {describe_kind(value)}")
    if value not in dag.tasks:
        _fail(path, f"unknown task {value!r} (not a task of the same DAG)")
    return value


def _check_parameter_binding(binding: Mapping[str, Any], path: str, dag: _Dag, ctx: _Spec) -> None:
    if "componentInputParameter" in binding:
        name = _req_str(binding, "componentInputParameter", path)
        if name not in dag.io.input_parameters:
            _fail(
                _field(path, "componentInputParameter"),
                f"{name!r} is not an input parameter of {dag.owner}",
            )
    if "taskOutputParameter" in binding:
        ref_path = _field(path, "taskOutputParameter")
        ref = _req_mapping(binding, "taskOutputParameter", path)
        producer = _check_task_name(ref.get("producerTask"), _field(ref_path, "producerTask"), dag)
        key = _req_str(ref, "outputParameterKey", ref_path)
        _check_output_key(
            producer, key, "parameter", _field(ref_path, "outputParameterKey"), dag, ctx
        )
    if "taskFinalStatus" in binding:
        status_path = _field(path, "taskFinalStatus")
        status = _req_mapping(binding, "taskFinalStatus", path)
        _check_task_name(status.get("producerTask"), _field(status_path, "producerTask"), dag)


def _check_artifact_binding(binding: Mapping[str, Any], path: str, dag: _Dag, ctx: _Spec) -> None:
    if "componentInputArtifact" in binding:
        name = _req_str(binding, "componentInputArtifact", path)
        if name not in dag.io.input_artifacts:
            _fail(
                _field(path, "componentInputArtifact"),
                f"{name!r} is not an input artifact of {dag.owner}",
            )
    if "taskOutputArtifact" in binding:
        ref_path = _field(path, "taskOutputArtifact")
        ref = _req_mapping(binding, "taskOutputArtifact", path)
        producer = _check_task_name(ref.get("producerTask"), _field(ref_path, "producerTask"), dag)
        key = _req_str(ref, "outputArtifactKey", ref_path)
        _check_output_key(
            producer, key, "artifact", _field(ref_path, "outputArtifactKey"), dag, ctx
        )


def _check_output_key(producer: str, key: str, kind: str, path: str, dag: _Dag, ctx: _Spec) -> None:
    """``key`` must be an output of the producer task's component, if that declares outputs."""
    ref = _component_of(dag.tasks[producer])
    if ref is None or ref not in ctx.interfaces:
        return  # the producer's own componentRef error is reported where it lives
    io = ctx.interfaces[ref]
    declared = io.output_parameters if kind == "parameter" else io.output_artifacts
    if declared is not None and key not in declared:
        _fail(path, f"task {producer!r} (component {ref!r}) has no output {kind} {key!r}")


def _check_iterators(
    task: Mapping[str, Any],
    path: str,
    ref: str,
    io: _Interface,
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
        it_path = _field(path, field)
        iterator = _as_mapping(task[field], it_path)
        item = _req_str(iterator, "itemInput", it_path)
        if item not in declared:
            _fail(_field(it_path, "itemInput"), f"component {ref!r} has no input {kind} {item!r}")
        items = _opt_mapping(iterator, "items", it_path)
        source = items.get(items_key)
        # The iterated list is one of the task's own inputs (or, leniently, a declared one).
        if source is not None and source not in bound and source not in declared:
            _fail(
                _field(_field(it_path, "items"), items_key),
                f"{source!r} is not an input {kind} of task (component {ref!r})",
            )


def _check_dag_outputs(outputs: Mapping[str, Any], dag: _Dag, ctx: _Spec) -> None:
    """DAG outputs select outputs of tasks of the same DAG."""
    path = _field(dag.path, "outputs")
    for name, spec in _sorted_items(_opt_mapping(outputs, "parameters", path)):
        out_path = _entry(_field(path, "parameters"), name)
        spec = _as_mapping(spec, out_path)
        selectors: list[tuple[str, Any]] = []
        if spec.get("valueFromParameter") is not None:
            selectors.append((_field(out_path, "valueFromParameter"), spec["valueFromParameter"]))
        if spec.get("valueFromOneof") is not None:
            oneof_path = _field(out_path, "valueFromOneof")
            oneof = _as_mapping(spec["valueFromOneof"], oneof_path)
            for index, selector in enumerate(_opt_list(oneof, "parameterSelectors", oneof_path)):
                selectors.append(
                    (_entry(_field(oneof_path, "parameterSelectors"), index), selector)
                )
        for sel_path, selector in selectors:
            _check_selector(selector, sel_path, "outputParameterKey", "parameter", dag, ctx)
    for name, spec in _sorted_items(_opt_mapping(outputs, "artifacts", path)):
        out_path = _entry(_field(path, "artifacts"), name)
        spec = _as_mapping(spec, out_path)
        for index, selector in enumerate(_opt_list(spec, "artifactSelectors", out_path)):
            sel_path = _entry(_field(out_path, "artifactSelectors"), index)
            _check_selector(selector, sel_path, "outputArtifactKey", "artifact", dag, ctx)


def _check_selector(
    selector: Any, path: str, key_field: str, kind: str, dag: _Dag, ctx: _Spec
) -> None:
    selector = _as_mapping(selector, path)
    producer = _check_task_name(
        selector.get("producerSubtask"), _field(path, "producerSubtask"), dag
    )
    key = _req_str(selector, key_field, path)
    _check_output_key(producer, key, kind, _field(path, key_field), dag, ctx)


# --------------------------------------------------------------------------- cycles


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


def _check_component_cycles(components: Mapping[str, Mapping[str, Any]]) -> None:
    """A component's DAG must not (transitively) instantiate the component itself."""
    graph: dict[str, list[str]] = {}
    for name, component in components.items():
        tasks = (component.get("dag") or {}).get("tasks") or {}
        refs = {_component_of(task) for task in tasks.values()}
        graph[name] = sorted(ref for ref in refs if ref is not None)
    cycle = _find_cycle(graph)
    if cycle:
        _fail(_field(ROOT_PATH, "components"), f"component DAG cycle: {' -> '.join(cycle)}")


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
