"""Structural validation of a compiled KFP PipelineSpec (the IR), as a plain dict.

The checks catch what would otherwise fail late and obscurely at run time: dangling references
between tasks, components and executors, unknown input/output names, cycles and unknown schema
versions. They deliberately stop short of re-implementing the protobuf schema: anything the kfp
2.x SDK compiles must pass, so every rule here was checked against the corpus in
``tests/pipelines`` (and KFP's own compiled test data), and unknown *extra* fields are always
tolerated.

Errors name the offending field with a path such as
``pipeline_spec.root.dag.tasks['train'].componentRef.name`` followed by the problem. Mappings are
walked in sorted key order so the first error reported is deterministic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from domain.pipeline_spec._paths import (
    ROOT_PATH,
    as_mapping,
    fail,
    join_entry,
    join_field,
    opt_mapping,
    req_mapping,
    req_str,
    sorted_items,
)
from domain.pipeline_spec.dags import Interface, SpecIndex, check_component_cycles, check_dag

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

# The members of the PipelineDeploymentConfig.ExecutorSpec oneof.
EXECUTOR_KINDS = ("container", "importer", "resolver", "customJob")


def validate_pipeline_spec(spec: Any) -> None:
    """Check a PipelineSpec dict; raise ``InvalidArgument`` naming the first problem found.

    The message has the form ``<field path>: <problem>``, for example
    ``pipeline_spec.root.dag.tasks['train'].componentRef.name: unknown component 'comp-trian'``.
    """
    spec = as_mapping(spec, ROOT_PATH)
    _check_pipeline_info(spec)
    _check_schema_version(spec)
    root = req_mapping(spec, "root", ROOT_PATH)
    root_path = join_field(ROOT_PATH, "root")
    root_dag = _check_root_shape(root, root_path)

    components = _components(spec, root_dag)
    executors = _executors(spec)
    interfaces: dict[str, Interface] = {}
    for name, component in sorted_items(components):
        path = join_entry(join_field(ROOT_PATH, "components"), name)
        component = as_mapping(component, path)
        _check_component_kind(component, path, executors)
        interfaces[name] = _interface(component, path)
    for label, executor in sorted_items(executors):
        _check_executor(
            executor, join_entry(join_field(ROOT_PATH, "deploymentSpec.executors"), label)
        )

    ctx = SpecIndex(components=components, interfaces=interfaces)
    root_io = _interface(root, root_path)
    check_dag(root_dag, join_field(root_path, "dag"), "the pipeline (root)", root_io, ctx)
    for name, component in sorted_items(components):
        if "dag" in component:
            path = join_field(join_entry(join_field(ROOT_PATH, "components"), name), "dag")
            dag = as_mapping(component["dag"], path)
            check_dag(dag, path, f"component {name!r}", interfaces[name], ctx)
    check_component_cycles(components)


def _check_pipeline_info(spec: Mapping[str, Any]) -> None:
    info = req_mapping(spec, "pipelineInfo", ROOT_PATH)
    req_str(info, "name", join_field(ROOT_PATH, "pipelineInfo"))


def _check_schema_version(spec: Mapping[str, Any]) -> None:
    path = join_field(ROOT_PATH, "schemaVersion")
    version = spec.get("schemaVersion")
    if version is None:
        fail(path, "missing (expected a 2.x.y version such as '2.1.0')")
    if not isinstance(version, str) or not _SCHEMA_VERSION.match(version):
        fail(path, f"unsupported schema version {version!r} (expected 2.x.y, e.g. '2.1.0')")


def _check_root_shape(root: Mapping[str, Any], path: str) -> Mapping[str, Any]:
    if "executorLabel" in root:
        fail(path, "the root component must be a DAG, not an executor (executorLabel set)")
    if root.get("dag") is None:
        fail(join_field(path, "dag"), "missing; the root component must be a DAG")
    return as_mapping(root["dag"], join_field(path, "dag"))


def _components(spec: Mapping[str, Any], root_dag: Mapping[str, Any]) -> Mapping[str, Any]:
    path = join_field(ROOT_PATH, "components")
    if spec.get("components") is None:
        root_tasks = opt_mapping(root_dag, "tasks", join_field(ROOT_PATH, "root.dag"))
        if root_tasks:
            fail(path, "missing, but root.dag has tasks that reference components")
        return {}
    return as_mapping(spec["components"], path)


def _executors(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    deployment = opt_mapping(spec, "deploymentSpec", ROOT_PATH)
    return opt_mapping(deployment, "executors", join_field(ROOT_PATH, "deploymentSpec"))


def _check_component_kind(
    component: Mapping[str, Any], path: str, executors: Mapping[str, Any]
) -> None:
    has_label = "executorLabel" in component
    has_dag = "dag" in component
    if has_label == has_dag:
        which = "has both" if has_label else "has neither"
        fail(path, f"must have exactly one of executorLabel or dag ({which})")
    if has_label:
        label = req_str(component, "executorLabel", path)
        if label not in executors:
            fail(
                join_field(path, "executorLabel"),
                f"unknown executor {label!r} (not in deploymentSpec.executors)",
            )


def _check_executor(executor: Any, path: str) -> None:
    executor = as_mapping(executor, path)
    kinds = [kind for kind in EXECUTOR_KINDS if kind in executor]
    if len(kinds) != 1:
        found = f"found {', '.join(kinds)}" if kinds else "found none"
        fail(path, f"must define exactly one of {', '.join(EXECUTOR_KINDS)} ({found})")
    body = as_mapping(executor[kinds[0]], join_field(path, kinds[0]))
    if kinds[0] == "container":
        req_str(body, "image", join_field(path, "container"))


def _interface(component: Mapping[str, Any], path: str) -> Interface:
    """Read (and type-check) a component's inputDefinitions / outputDefinitions."""
    inputs = opt_mapping(component, "inputDefinitions", path)
    in_params = _definitions(inputs, "parameters", join_field(path, "inputDefinitions"))
    in_artifacts = _definitions(inputs, "artifacts", join_field(path, "inputDefinitions"))
    if component.get("outputDefinitions") is None:
        return Interface(in_params, in_artifacts, None, None)
    outputs = opt_mapping(component, "outputDefinitions", path)
    out_params = _definitions(outputs, "parameters", join_field(path, "outputDefinitions"))
    out_artifacts = _definitions(outputs, "artifacts", join_field(path, "outputDefinitions"))
    return Interface(in_params, in_artifacts, out_params, out_artifacts)


def _definitions(section: Mapping[str, Any], kind: str, path: str) -> frozenset[str]:
    """Names declared under ``parameters`` or ``artifacts``; checks each parameterType."""
    entries = opt_mapping(section, kind, path)
    for name, spec in sorted_items(entries):
        entry_path = join_entry(join_field(path, kind), name)
        spec = as_mapping(spec, entry_path)
        if kind == "parameters" and spec.get("parameterType") is not None:
            _check_parameter_type(spec["parameterType"], join_field(entry_path, "parameterType"))
    return frozenset(entries)


def _check_parameter_type(value: Any, path: str) -> None:
    if not isinstance(value, str) or value not in PARAMETER_TYPES:
        fail(path, f"unknown parameter type {value!r} (expected one of {_known_types()})")


def _known_types() -> str:
    return ", ".join(sorted(PARAMETER_TYPES))
