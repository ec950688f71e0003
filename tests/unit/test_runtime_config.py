from __future__ import annotations

from typing import Any

import pytest

from api_server.services.specs import check_runtime_config, wire_spec
from domain.errors import InvalidArgument

SPEC: dict[str, Any] = {
    "root": {
        "inputDefinitions": {
            "parameters": {
                "name": {"parameterType": "STRING"},
                "n": {"parameterType": "NUMBER_INTEGER", "defaultValue": 2.0, "isOptional": True},
                "ratio": {"parameterType": "NUMBER_DOUBLE", "isOptional": True},
                "flag": {"parameterType": "BOOLEAN", "isOptional": True},
                "items": {"parameterType": "LIST", "isOptional": True},
                "conf": {"parameterType": "STRUCT", "isOptional": True},
            }
        }
    }
}


def test_valid_parameters_and_root_are_kept() -> None:
    config = {
        "parameters": {"name": "x", "n": 3, "ratio": 1, "flag": True, "items": [1], "conf": {}},
        "pipeline_root": "minio://bucket/root",
    }
    assert check_runtime_config(SPEC, config) == config


def test_integral_float_counts_as_integer() -> None:
    assert check_runtime_config(SPEC, {"parameters": {"name": "x", "n": 3.0}}) is not None


def test_empty_config_is_none_when_nothing_is_required() -> None:
    assert check_runtime_config({"root": {}}, None) is None


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"parameters": {"name": "x", "colour": 1}}, "unknown parameter 'colour'"),
        ({"parameters": {}}, "missing required parameter 'name'"),
        ({"parameters": {"name": 5}}, "runtime_config.parameters['name']: must be a string"),
        ({"parameters": {"name": "x", "n": 2.5}}, "['n']: must be an integer"),
        ({"parameters": {"name": "x", "n": True}}, "['n']: must be an integer"),
        ({"parameters": {"name": "x", "flag": "yes"}}, "['flag']: must be true or false"),
        ({"parameters": {"name": "x", "items": {}}}, "['items']: must be a list"),
        ({"parameters": {"name": "x", "conf": []}}, "['conf']: must be an object"),
        ({"parameters": [1]}, "runtime_config.parameters: must be an object"),
        ({"parameters": {"name": "x"}, "pipeline_root": 3}, "runtime_config.pipeline_root"),
        ("nope", "runtime_config: must be an object"),
    ],
)
def test_bad_runtime_config_names_the_field(config: Any, message: str) -> None:
    with pytest.raises(InvalidArgument) as excinfo:
        check_runtime_config(SPEC, config)
    assert message in excinfo.value.message


def test_wire_spec_is_bare_without_platform_and_wrapped_with_it() -> None:
    spec = {"pipelineInfo": {"name": "p"}}
    assert wire_spec({"pipeline_spec": spec, "platform_spec": None}) == spec
    platform = {"platforms": {"kubernetes": {}}}
    assert wire_spec({"pipeline_spec": spec, "platform_spec": platform}) == {
        "pipeline_spec": spec,
        "platform_spec": platform,
    }
