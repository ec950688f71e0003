"""The ExecutorInput a task reads, and the outputs it hands back.

A task learns everything about its inputs and where to put its outputs from one JSON document,
the ExecutorInput of KFP's ``pipeline_spec`` (``{{$}}`` on its command line). It returns
outputs two ways, both honoured here:

* ``executor_output.json`` at ``outputs.outputFile``: ``parameterValues`` and ``artifacts``
  (with their ``metadata``); this is what kfp Python components write.
* one file per output parameter at ``outputs.parameters[name].outputFile``, holding the value
  as text (``dsl.OutputPath`` in Python components, ``echo 3 > "$0"`` in container ones).

As on a KFP cluster, a value in ``executor_output.json`` wins over the parameter's file, and a
declared output parameter found in neither is an error: downstream tasks could not run.
Text files are typed by the component's ``outputDefinitions``: strings are taken verbatim,
booleans accept ``true``/``True``, everything else is JSON.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: File name of the executor output inside a task's work directory.
EXECUTOR_OUTPUT_FILE = "executor_output.json"
#: Folder, inside a task's work directory, of the output parameters' files.
OUTPUT_PARAMETERS_DIR = "outputs"

# Keep in step with the ParameterType enum of pipeline_spec.proto.
STRING = "STRING"
NUMBER_INTEGER = "NUMBER_INTEGER"
NUMBER_DOUBLE = "NUMBER_DOUBLE"
BOOLEAN = "BOOLEAN"
LIST = "LIST"
STRUCT = "STRUCT"


class ExecutorOutputError(ValueError):
    """A task's outputs are missing or malformed; the message names the output and the file."""


@dataclass(frozen=True)
class TaskOutputs:
    """What a task produced, in the shape the engine records in ``TaskStatusEvent.outputs``."""

    parameters: dict[str, Any] = field(default_factory=dict)
    artifacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"parameters": self.parameters, "artifacts": self.artifacts}


def build_executor_input(
    *,
    parameters: dict[str, Any],
    input_artifacts: dict[str, list[dict[str, Any]]],
    output_parameters: Iterable[str],
    output_artifacts: dict[str, dict[str, Any]],
    output_file: str,
    work_dir: Path,
) -> dict[str, Any]:
    """The ExecutorInput JSON for one task attempt, with its output folders created.

    ``parameters`` are the resolved input values (a ``None`` value means "not provided" and is
    left out, so ``IfPresent`` sees it absent). ``input_artifacts`` maps an input name to its
    RuntimeArtifacts (``name``, ``uri``, ``metadata``, ``type``), each with a *local* uri.
    ``output_artifacts`` maps an output name to ``{"uri": local uri, "type": {...}}``; each
    output parameter gets the file ``work_dir/outputs/<name>``; ``output_file`` is where the
    task writes ``executor_output.json``. Folders the task writes into are created here, as
    KFP's launcher does before running the user's command.
    """
    work_dir = Path(work_dir)
    parameter_dir = work_dir / OUTPUT_PARAMETERS_DIR
    Path(output_file).parent.mkdir(parents=True, exist_ok=True)

    outputs_parameters: dict[str, Any] = {}
    names = list(output_parameters)
    if names:
        parameter_dir.mkdir(parents=True, exist_ok=True)
    for name in names:
        _check_file_name("output parameter", name)
        outputs_parameters[name] = {"outputFile": str(parameter_dir / name)}

    outputs_artifacts: dict[str, Any] = {}
    for name, spec in output_artifacts.items():
        uri = spec.get("uri")
        if not isinstance(uri, str) or not uri:
            raise ValueError(f"output artifact {name!r}: a uri is required")
        if uri.startswith("/"):
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        outputs_artifacts[name] = {
            "artifacts": [
                {
                    "name": name,
                    "uri": uri,
                    "metadata": dict(spec.get("metadata") or {}),
                    "type": dict(spec.get("type") or {}),
                }
            ]
        }

    inputs: dict[str, Any] = {}
    values = {name: value for name, value in parameters.items() if value is not None}
    if values:
        inputs["parameterValues"] = values
    if input_artifacts:
        inputs["artifacts"] = {
            name: {"artifacts": [dict(artifact) for artifact in artifacts]}
            for name, artifacts in input_artifacts.items()
        }

    outputs: dict[str, Any] = {"outputFile": str(output_file)}
    if outputs_parameters:
        outputs["parameters"] = outputs_parameters
    if outputs_artifacts:
        outputs["artifacts"] = outputs_artifacts
    return {"inputs": inputs, "outputs": outputs}


def read_executor_output(
    executor_input: dict[str, Any],
    work_dir: Path,
    *,
    component: Mapping[str, Any] | None = None,
) -> TaskOutputs:
    """Collect a finished task's outputs: ``executor_output.json`` merged with the files of
    its output parameters, typed by ``component["outputDefinitions"]``.

    Without ``component`` a parameter file is read as a string. Raises
    ``ExecutorOutputError`` when ``executor_output.json`` is not valid, a value does not have
    its declared type, or a declared output parameter was not produced.
    """
    outputs = executor_input.get("outputs") or {}
    declared_parameters: dict[str, Any] = outputs.get("parameters") or {}
    declared_artifacts: dict[str, Any] = outputs.get("artifacts") or {}
    types = _output_parameter_types(component)
    if component is None and declared_parameters:
        logger.warning("reading output parameters without their component: typed as strings")

    output_path = _local(outputs.get("outputFile") or EXECUTOR_OUTPUT_FILE, work_dir)
    written = _load_executor_output(output_path)

    written_parameters = _or_empty(written.get("parameterValues"))
    if not isinstance(written_parameters, dict):
        raise ExecutorOutputError(f"{output_path}: 'parameterValues' must be an object")
    parameters: dict[str, Any] = {}
    for name, spec in declared_parameters.items():
        kind = types.get(name, STRING)
        if name in written_parameters:
            parameters[name] = _typed_value(name, written_parameters[name], kind, output_path)
            continue
        parameter_file = _local(spec.get("outputFile", ""), work_dir)
        try:
            text = parameter_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ExecutorOutputError(
                f"output parameter {name!r} was not produced: neither {output_path.name} nor "
                f"{parameter_file} holds it"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ExecutorOutputError(
                f"output parameter {name!r}: cannot read {parameter_file}: {exc}"
            ) from exc
        parameters[name] = parse_parameter_text(name, text, kind, parameter_file)
    for name in written_parameters.keys() - declared_parameters.keys():
        logger.warning("ignoring undeclared output parameter %r in %s", name, output_path)

    written_artifacts = _or_empty(written.get("artifacts"))
    if not isinstance(written_artifacts, dict):
        raise ExecutorOutputError(f"{output_path}: 'artifacts' must be an object")
    artifacts: dict[str, list[dict[str, Any]]] = {}
    for name, artifact_list in declared_artifacts.items():
        declared = list((artifact_list or {}).get("artifacts") or [])
        reported = _reported_artifacts(name, written_artifacts.get(name), output_path)
        artifacts[name] = _merge_artifacts(name, declared, reported)
    for name in written_artifacts.keys() - declared_artifacts.keys():
        logger.warning("ignoring undeclared output artifact %r in %s", name, output_path)
    return TaskOutputs(parameters=parameters, artifacts=artifacts)


def parse_parameter_text(name: str, text: str, kind: str, source: Path | str) -> Any:
    """A parameter value from the text a task wrote to its output file, typed by ``kind``
    (a ``parameterType``): strings verbatim, booleans ``true``/``false`` in any case, numbers,
    lists and structs as JSON."""
    if kind == STRING:
        return text
    if kind == BOOLEAN:
        word = text.strip().lower()
        if word in ("true", "false"):
            return word == "true"
        raise ExecutorOutputError(
            f"output parameter {name!r} ({kind}) in {source}: expected true or false, "
            f"got {_excerpt(text)}"
        )
    try:
        value = json.loads(text)
    except ValueError:
        raise ExecutorOutputError(
            f"output parameter {name!r} ({kind}) in {source}: not valid JSON: {_excerpt(text)}"
        ) from None
    return _typed_value(name, value, kind, source)


def _typed_value(name: str, value: Any, kind: str, source: Path | str) -> Any:
    """``value`` checked against ``kind``; integral numbers of an integer output become int
    (protobuf's Value has one number type, so ``3`` travels as ``3.0``)."""
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == NUMBER_INTEGER and is_number:
        if isinstance(value, int):
            return value
        if math.isfinite(value) and value.is_integer():
            return int(value)
    elif kind == NUMBER_DOUBLE and is_number:
        return float(value)
    elif (
        (kind == STRING and isinstance(value, str))
        or (kind == BOOLEAN and isinstance(value, bool))
        or (kind == LIST and isinstance(value, list))
        or (kind == STRUCT and isinstance(value, dict))
    ):
        return value
    elif kind not in (STRING, NUMBER_INTEGER, NUMBER_DOUBLE, BOOLEAN, LIST, STRUCT):
        return value  # a type this engine does not check (e.g. TASK_FINAL_STATUS)
    raise ExecutorOutputError(
        f"output parameter {name!r} in {source}: expected {kind}, got {_excerpt(value)}"
    )


def _output_parameter_types(component: Mapping[str, Any] | None) -> dict[str, str]:
    if not component:
        return {}
    definitions = (component.get("outputDefinitions") or {}).get("parameters") or {}
    return {
        name: str(spec.get("parameterType", STRING))
        for name, spec in definitions.items()
        if isinstance(spec, dict)
    }


def _load_executor_output(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}  # container components need not write one
    except (OSError, UnicodeDecodeError) as exc:
        raise ExecutorOutputError(f"cannot read {path}: {exc}") from exc
    if not text.strip():
        return {}
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise ExecutorOutputError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ExecutorOutputError(f"{path} must hold a JSON object, got {_excerpt(document)}")
    return document


def _reported_artifacts(name: str, entry: Any, source: Path) -> list[dict[str, Any]]:
    if entry is None:
        return []
    where = f"{source}: artifacts[{name!r}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("artifacts", []), list):
        raise ExecutorOutputError(f"{where} must be an object with an 'artifacts' list")
    reported = entry.get("artifacts", [])
    for index, artifact in enumerate(reported):
        if not isinstance(artifact, dict):
            raise ExecutorOutputError(f"{where}.artifacts[{index}] must be an object")
        if "uri" in artifact and not isinstance(artifact["uri"], str):
            raise ExecutorOutputError(f"{where}.artifacts[{index}].uri must be a string")
        if not isinstance(artifact.get("metadata") or {}, dict):
            raise ExecutorOutputError(f"{where}.artifacts[{index}].metadata must be an object")
    return reported


def _merge_artifacts(
    name: str, declared: list[dict[str, Any]], reported: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Declared output artifacts updated by what the task reported: a reported uri replaces
    the declared one, reported metadata is laid over the declared metadata; the declared
    type always stands (tasks do not report it)."""
    merged: list[dict[str, Any]] = []
    for index in range(max(len(declared), len(reported))):
        base = declared[index] if index < len(declared) else {}
        update = reported[index] if index < len(reported) else {}
        artifact_type = base.get("type") or (declared[0].get("type") if declared else {}) or {}
        merged.append(
            {
                "name": update.get("name") or base.get("name") or name,
                "uri": update.get("uri") or base.get("uri", ""),
                "type": dict(artifact_type),
                "metadata": {**(base.get("metadata") or {}), **(update.get("metadata") or {})},
            }
        )
    return merged


def _or_empty(value: Any) -> Any:
    return {} if value is None else value


def _local(path: str, work_dir: Path) -> Path:
    candidate = Path(path)
    return candidate if candidate.is_absolute() else Path(work_dir) / candidate


def _check_file_name(what: str, name: str) -> None:
    if not name or name in (".", "..") or "/" in name or "\x00" in name:
        raise ValueError(f"{what} {name!r}: not usable as a file name")


def _excerpt(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return repr(text if len(text) <= limit else text[:limit] + "...")
