"""The create-run form: one typed field per pipeline input, and the form's values parsed
back into run parameters with a message per field. Pure code, no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# parameterType -> (HTML control, what a person is asked for)
_CONTROLS = {
    "STRING": ("text", "text"),
    "NUMBER_INTEGER": ("integer", "a whole number"),
    "NUMBER_DOUBLE": ("number", "a number"),
    "BOOLEAN": ("boolean", "true or false"),
    "LIST": ("json", "a JSON list, e.g. [1, 2]"),
    "STRUCT": ("json", 'a JSON object, e.g. {"a": 1}'),
}


@dataclass(frozen=True)
class FormField:
    name: str
    parameter_type: str
    control: str  # text | integer | number | boolean | json
    hint: str
    has_default: bool
    default: Any
    is_optional: bool
    description: str

    @property
    def default_text(self) -> str:
        """The default as the control shows it."""
        if not self.has_default or self.default is None:
            return ""
        if self.control == "boolean":
            return "true" if self.default else "false"
        if self.control == "json":
            return json.dumps(self.default)
        if self.control == "integer" and isinstance(self.default, float):
            return str(int(self.default))  # JSON carries 4 as 4.0 through protobuf
        return str(self.default)


def run_form_fields(document: Mapping[str, Any]) -> list[FormField]:
    """The root's input parameters in name order. Artifact inputs cannot be typed into a
    form; a pipeline that has them is run from the SDK."""
    spec = document.get("pipeline_spec", document)
    declared = ((spec.get("root") or {}).get("inputDefinitions") or {}).get("parameters") or {}
    fields = []
    for name, definition in sorted(declared.items()):
        parameter_type = str(definition.get("parameterType") or "STRING")
        control, hint = _CONTROLS.get(parameter_type, ("json", "a JSON value"))
        fields.append(
            FormField(
                name=name,
                parameter_type=parameter_type,
                control=control,
                hint=hint,
                has_default="defaultValue" in definition,
                default=definition.get("defaultValue"),
                is_optional=bool(definition.get("isOptional")),
                description=str(definition.get("description") or ""),
            )
        )
    return fields


def _parse_value(field: FormField, text: str) -> Any:
    """The typed value of one field; ValueError with a message a person can act on."""
    if field.control == "text":
        return text
    if field.control == "integer":
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"must be a whole number, got {text!r}") from None
    if field.control == "number":
        try:
            number = float(text)
        except ValueError:
            raise ValueError(f"must be a number, got {text!r}") from None
        if not math.isfinite(number):
            raise ValueError("must be a finite number")
        return number
    if field.control == "boolean":
        if text not in ("true", "false"):
            raise ValueError("choose true or false")
        return text == "true"
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"is not valid JSON: {exc.msg} at character {exc.pos + 1}") from None
    if field.parameter_type == "LIST" and not isinstance(value, list):
        raise ValueError("must be a JSON list, e.g. [1, 2]")
    if field.parameter_type == "STRUCT" and not isinstance(value, dict):
        raise ValueError('must be a JSON object, e.g. {"a": 1}')
    return value


def parse_run_form(
    fields: list[FormField], form: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(parameters, errors by field name). A field left empty takes the pipeline's default
    (it is not sent); an empty field without a default is an error unless optional."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        text = form.get(f"param.{field.name}", "")
        if field.control != "text":
            text = text.strip()
        if text == "":
            if not field.has_default and not field.is_optional:
                errors[field.name] = "required: this pipeline has no default for it"
            continue
        try:
            values[field.name] = _parse_value(field, text)
        except ValueError as exc:
            errors[field.name] = str(exc)
    return values, errors
