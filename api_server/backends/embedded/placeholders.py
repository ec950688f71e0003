"""Resolve the placeholders of a container's ``command`` and ``args``.

The kfp compiler leaves two kinds of placeholder in a container spec:

* strings with ``{{$...}}`` references, replaced where they occur inside an argument:
  ``{{$}}`` (the ExecutorInput JSON), ``{{$.inputs.parameters['x']}}``,
  ``{{$.inputs.artifacts['x'].path|uri|metadata}}``, ``{{$.outputs.parameters['y'].output_file}}``,
  ``{{$.outputs.artifacts['y'].path|uri|metadata}}``, ``{{$.outputs.output_file}}`` and the
  run-level ``{{$.pipeline_job_name}}``, ``{{$.pipeline_task_uuid}}``, ``{{$.pipeline_root}}``...
* whole arguments that are JSON objects: ``{"Concat": [...]}`` joins its items into one
  argument, ``{"IfPresent": {"InputName": ..., "Then": ..., "Else": ...}}`` expands to the
  arguments of one branch (zero, one or several), depending on whether the input was given.
  They nest.

Parameter values are substituted as KFP's launcher does: strings verbatim, other values as
JSON (``3``, ``1.5``, ``true``, ``[1, 2]``). An artifact's ``path`` is derived from its uri the
way the kfp executor derives it (a local path stays as is; ``s3://b/k`` becomes ``/s3/b/k``).
A placeholder this module does not know, or one whose value is not available, is a
``PlaceholderError`` naming it, never a literal ``{{$...}}`` handed to the task.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_REFERENCE = re.compile(r"\{\{\$(.*?)\}\}")
_NAME = r"\['(?P<name>[^']*)'\]"
_KEY = r"(?:\['(?P<key>[^']*)'\])?"
_INPUT_PARAMETER = re.compile(rf"\.inputs\.parameters{_NAME}")
_OUTPUT_PARAMETER = re.compile(rf"\.outputs\.parameters{_NAME}\.output_file")
_ARTIFACT = re.compile(
    rf"\.(?P<side>inputs|outputs)\.artifacts{_NAME}\.(?P<field>path|uri|metadata){_KEY}"
)
_STRUCTURED_PREFIXES = ('{"Concat"', '{"IfPresent"')
_REMOTE_MOUNTS = {"s3://": "/s3/", "gs://": "/gcs/", "minio://": "/minio/"}


class PlaceholderError(ValueError):
    """A placeholder that cannot be resolved; the message names it."""


@dataclass(frozen=True)
class PipelineContext:
    """Run-level values for ``{{$.pipeline_*}}`` placeholders.

    ``job_resource_name`` defaults to ``job_id``; ``create_time_utc``/``schedule_time_utc``
    (RFC 3339) and ``workspace_path`` resolve only when set.
    """

    job_name: str
    job_id: str
    task_name: str
    task_id: str
    pipeline_root: str
    job_resource_name: str | None = None
    create_time_utc: str | None = None
    schedule_time_utc: str | None = None
    workspace_path: str | None = None

    def value_of(self, reference: str) -> str | None:
        """The value of a run-level placeholder body (``.pipeline_job_name``), or None."""
        values = {
            ".pipeline_job_name": self.job_name,
            ".pipeline_job_uuid": self.job_id,
            ".pipeline_job_resource_name": self.job_resource_name or self.job_id,
            ".pipeline_task_name": self.task_name,
            ".pipeline_task_uuid": self.task_id,
            ".pipeline_root": self.pipeline_root,
            ".pipeline_job_create_time_utc": self.create_time_utc,
            ".pipeline_job_schedule_time_utc": self.schedule_time_utc,
            ".workspace_path": self.workspace_path,
        }
        if reference not in values:
            return None
        value = values[reference]
        if value is None:
            raise PlaceholderError(f"{{{{${reference}}}}}: not available for this run")
        return value


def resolve_command(
    container: dict[str, Any],
    executor_input: dict[str, Any],
    component: dict[str, Any],
    *,
    pipeline: PipelineContext,
) -> list[str]:
    """The argv of a container task: ``command`` followed by ``args``, every placeholder
    resolved against ``executor_input``, the ``component`` spec (for input types and
    defaults) and the run's ``pipeline`` context."""
    resolver = _Resolver(
        resolve_executor_input(executor_input, component, pipeline=pipeline), component, pipeline
    )
    argv: list[str] = []
    for section in ("command", "args"):
        items = container.get(section) or []
        if not isinstance(items, list):
            raise PlaceholderError(f"container.{section} must be a list")
        for index, item in enumerate(items):
            argv.extend(resolver.expand(item, f"container.{section}[{index}]"))
    if not argv:
        raise PlaceholderError("container has neither command nor args")
    return argv


def resolve_executor_input(
    executor_input: dict[str, Any],
    component: Mapping[str, Any],
    *,
    pipeline: PipelineContext,
) -> dict[str, Any]:
    """A copy of ``executor_input`` as the task must see it: defaults of the component's
    inputs filled in where no value was given (as KFP's launcher does), and references left in
    string parameter values resolved: run-level placeholders (a ``{{$.pipeline_job_name}}``
    default) and other inputs (an f-string argument compiles to
    ``"{{$.inputs.parameters['pipelinechannel--x']}}-suffix"``)."""
    # Only the parameter values change, in a new dict: copying the two levels above them
    # leaves the caller's input as it was (a deep copy cost a tenth of a task's orchestration).
    resolved = dict(executor_input)
    inputs = resolved["inputs"] = dict(resolved.get("inputs") or {})
    values: dict[str, Any] = dict(inputs.get("parameterValues") or {})
    definitions = (component.get("inputDefinitions") or {}).get("parameters") or {}
    for name, spec in definitions.items():
        if values.get(name) is None and "defaultValue" in spec:
            values[name] = copy.deepcopy(spec["defaultValue"])
    originals = dict(values)

    def reference(match: re.Match[str]) -> str:
        body = match.group(1)
        run_value = pipeline.value_of(body)
        if run_value is not None:
            return run_value
        parameter = _INPUT_PARAMETER.fullmatch(body)
        if parameter and originals.get(parameter.group("name")) is not None:
            return format_parameter(originals[parameter.group("name")])
        return match.group(0)  # an output placeholder in a value is left for the task

    for name, value in originals.items():
        if isinstance(value, str) and "{{$" in value:
            values[name] = _REFERENCE.sub(reference, value)
    if values:
        inputs["parameterValues"] = values
    return resolved


def format_parameter(value: Any) -> str:
    """A parameter value as it appears on a command line: strings verbatim, anything else as
    JSON (integral floats as integers, since protobuf carries every number as a double)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return json.dumps(value)


def local_path_for_uri(uri: str) -> str:
    """The local path of an artifact uri, as the kfp executor computes it: a local absolute
    path (or ``file://`` uri) is itself, a remote uri maps under ``/s3/``, ``/gcs/``,
    ``/minio/``."""
    if uri.startswith("file://"):
        uri = uri[len("file://") :]
    if uri.startswith("/"):
        return uri
    for prefix, mount in _REMOTE_MOUNTS.items():
        if uri.startswith(prefix):
            return mount + uri[len(prefix) :]
    raise PlaceholderError(f"artifact uri {uri!r} has no local path")


class _Resolver:
    def __init__(
        self,
        executor_input: dict[str, Any],
        component: Mapping[str, Any],
        pipeline: PipelineContext,
    ) -> None:
        self.executor_input = executor_input
        self.inputs = executor_input.get("inputs") or {}
        self.outputs = executor_input.get("outputs") or {}
        self.pipeline = pipeline
        definitions = component.get("inputDefinitions") or {}
        self.declared_inputs: set[str] = set(definitions.get("parameters") or {}) | set(
            definitions.get("artifacts") or {}
        )
        self._executor_input_json: str | None = None

    def expand(self, item: Any, where: str) -> list[str]:
        """One command-line element as zero or more arguments."""
        if isinstance(item, str) and item.startswith(_STRUCTURED_PREFIXES):
            try:
                item = json.loads(item)
            except ValueError as exc:
                raise PlaceholderError(
                    f"{where}: malformed structured placeholder: {exc}"
                ) from None
        if isinstance(item, str):
            return [self.substitute(item, where)]
        if isinstance(item, dict) and len(item) == 1 and "Concat" in item:
            parts = item["Concat"]
            if not isinstance(parts, list):
                raise PlaceholderError(f"{where}: Concat must hold a list")
            return [
                "".join(
                    piece
                    for index, part in enumerate(parts)
                    for piece in self.expand(part, f"{where}.Concat[{index}]")
                )
            ]
        if isinstance(item, dict) and len(item) == 1 and "IfPresent" in item:
            return self._expand_if_present(item["IfPresent"], f"{where}.IfPresent")
        if isinstance(item, int | float) and not isinstance(item, bool):
            return [format_parameter(item)]
        raise PlaceholderError(f"{where}: unsupported command-line element {item!r}")

    def _expand_if_present(self, spec: Any, where: str) -> list[str]:
        if not isinstance(spec, dict) or not isinstance(spec.get("InputName"), str):
            raise PlaceholderError(f"{where}: needs an InputName")
        name = spec["InputName"]
        if self.declared_inputs and name not in self.declared_inputs:
            raise PlaceholderError(f"{where}: input {name!r} is not an input of the component")
        branch = "Then" if self._is_present(name) else "Else"
        chosen = spec.get(branch)
        if chosen is None:
            return []
        items = chosen if isinstance(chosen, list) else [chosen]
        return [
            argument
            for index, element in enumerate(items)
            for argument in self.expand(element, f"{where}.{branch}[{index}]")
        ]

    def _is_present(self, name: str) -> bool:
        if (self.inputs.get("parameterValues") or {}).get(name) is not None:
            return True
        artifact_list = (self.inputs.get("artifacts") or {}).get(name) or {}
        return bool(artifact_list.get("artifacts"))

    def substitute(self, text: str, where: str) -> str:
        return _REFERENCE.sub(lambda match: self._value(match.group(1), where), text)

    def _value(self, body: str, where: str) -> str:
        placeholder = f"{{{{${body}}}}}"
        if body == "":
            if self._executor_input_json is None:
                self._executor_input_json = json.dumps(self.executor_input)
            return self._executor_input_json
        if body in (".outputs.output_file", ".outputMetadataUri"):
            return self._required(self.outputs.get("outputFile"), placeholder, where)
        run_value = self.pipeline.value_of(body)
        if run_value is not None:
            return run_value
        match = _INPUT_PARAMETER.fullmatch(body)
        if match:
            value = (self.inputs.get("parameterValues") or {}).get(match.group("name"))
            return format_parameter(self._required(value, placeholder, where))
        match = _OUTPUT_PARAMETER.fullmatch(body)
        if match:
            spec = (self.outputs.get("parameters") or {}).get(match.group("name")) or {}
            return self._required(spec.get("outputFile"), placeholder, where)
        match = _ARTIFACT.fullmatch(body)
        if match:
            return self._artifact_value(match, placeholder, where)
        raise PlaceholderError(f"{where}: unknown placeholder {placeholder}")

    def _artifact_value(self, match: re.Match[str], placeholder: str, where: str) -> str:
        side = self.inputs if match.group("side") == "inputs" else self.outputs
        artifact_list = (side.get("artifacts") or {}).get(match.group("name")) or {}
        artifacts = artifact_list.get("artifacts") or []
        artifact = self._required(artifacts[0] if artifacts else None, placeholder, where)
        field_name = match.group("field")
        if field_name == "uri":
            return self._required(artifact.get("uri"), placeholder, where)
        if field_name == "path":
            uri = self._required(artifact.get("uri"), placeholder, where)
            try:
                return local_path_for_uri(uri)
            except PlaceholderError as exc:
                raise PlaceholderError(f"{where}: {placeholder}: {exc}") from None
        metadata = artifact.get("metadata") or {}
        key = match.group("key")
        if key is None:
            return json.dumps(metadata)
        return format_parameter(self._required(metadata.get(key), placeholder, where))

    @staticmethod
    def _required(value: Any, placeholder: str, where: str) -> Any:
        if value is None:
            raise PlaceholderError(f"{where}: {placeholder} has no value for this task")
        return value
